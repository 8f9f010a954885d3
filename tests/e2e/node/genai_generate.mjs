// Google Gen AI SDK: generateContent (or generateContentStream), printed on
// stdout.
//
//   node genai_generate.mjs [stream]
//
// No base URL and no key of its own: the SDK reads GOOGLE_GEMINI_BASE_URL
// and GEMINI_API_KEY / GOOGLE_API_KEY from the environment. Exits non-zero,
// with the error on stderr, when the call fails.
import { GoogleGenAI } from '@google/genai';

const stream = process.argv.includes('stream');
const ai = new GoogleGenAI({ httpOptions: { timeout: 20000 } });
const params = { model: 'gemini-2.0-flash', contents: 'Say hello.' };

try {
  let text = '';
  if (stream) {
    for await (const chunk of await ai.models.generateContentStream(params)) {
      text += chunk.text ?? '';
    }
  } else {
    text = (await ai.models.generateContent(params)).text;
  }
  console.log(text);
} catch (e) {
  console.error(`genai_generate: ${e?.constructor?.name}: ${e?.message}`);
  if (e?.cause) console.error(`cause: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.cause}`);
  process.exit(1);
}
