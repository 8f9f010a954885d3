// Anthropic SDK: one Messages call, printed on stdout.
//
//   node anthropic_messages.mjs [stream]
//
// No base URL and no key of its own: the SDK reads ANTHROPIC_BASE_URL,
// ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN from the environment. Exits
// non-zero, with the error on stderr, when the call fails.
import Anthropic from '@anthropic-ai/sdk';

const stream = process.argv.includes('stream');
const client = new Anthropic({ maxRetries: 0, timeout: 20000 });
const params = {
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Say hello.' }],
};

try {
  let text = '';
  if (stream) {
    const s = client.messages.stream(params);
    s.on('text', (delta) => { text += delta; });
    await s.finalMessage();
  } else {
    const r = await client.messages.create(params);
    text = r.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
  }
  console.log(text);
} catch (e) {
  console.error(`anthropic_messages: ${e?.constructor?.name}: ${e?.message}`);
  if (e?.cause) console.error(`cause: ${e.cause?.code ?? ''} ${e.cause?.message ?? e.cause}`);
  process.exit(1);
}
