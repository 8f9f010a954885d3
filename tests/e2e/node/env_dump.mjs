// Prints, as one JSON object, the SDK variables this process was started
// with (what librespan's environment layer set or left alone):
//
//   node env_dump.mjs
//
// Unset variables are null. Only for tests: the values include the fake keys.
const names = [
  'OPENAI_BASE_URL', 'OPENAI_API_KEY',
  'ANTHROPIC_BASE_URL', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_API_KEY',
  'GOOGLE_GEMINI_BASE_URL', 'GOOGLE_VERTEX_BASE_URL', 'GEMINI_API_KEY', 'GOOGLE_API_KEY',
  'NODE_EXTRA_CA_CERTS', 'RESPAN_RELAY',
];
const out = {};
for (const n of names) out[n] = process.env[n] ?? null;
console.log(JSON.stringify(out));
