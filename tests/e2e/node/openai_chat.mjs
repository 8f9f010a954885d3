// OpenAI SDK: one chat completion, printed on stdout.
//
//   node openai_chat.mjs [stream]
//
// No base URL and no key of its own: the SDK reads OPENAI_BASE_URL and
// OPENAI_API_KEY from the environment (set by librespan, by `respan run`, or
// by a test). Exits non-zero, with the error on stderr, when the call fails.
import OpenAI from 'openai';

const stream = process.argv.includes('stream');
const client = new OpenAI({ maxRetries: 0, timeout: 20000 });
const params = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
};

try {
  let text = '';
  if (stream) {
    const s = await client.chat.completions.create({
      ...params, stream: true, stream_options: { include_usage: true },
    });
    for await (const chunk of s) {
      text += chunk.choices?.[0]?.delta?.content ?? '';
    }
  } else {
    const r = await client.chat.completions.create(params);
    text = r.choices[0].message.content;
  }
  console.log(text);
} catch (e) {
  console.error(`openai_chat: ${e?.constructor?.name}: ${e?.message}`);
  if (e?.cause) console.error(`cause: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.cause}`);
  process.exit(1);
}
