// A raw TLS connection, as background traffic that ignores base URLs makes:
//
//   node tls_connect.mjs HOST PORT SERVERNAME [verify]
//
// Opens tls.connect({host, port, servername}) so that a ClientHello with
// SERVERNAME in its SNI goes to HOST:PORT. Without "verify" the server's
// certificate is not checked (the server here is a local stand-in, not
// SERVERNAME), so that a connection that is let through completes its
// handshake. Once connected it sends `GET /__health` and prints
// "connected" and the first line of the answer (exit 0 for a 200, else 4);
// on any error, a connection closed before the handshake included, it
// prints "error CODE MESSAGE" on stderr and exits 3.
import tls from 'node:tls';

const [host, port, servername, verify] = process.argv.slice(2);
const sock = tls.connect({
  host, port: Number(port), servername,
  rejectUnauthorized: verify === 'verify',
  ALPNProtocols: ['http/1.1'],
});
const fail = (e) => {
  console.error(`error ${e?.code ?? ''} ${e?.message ?? e}`);
  process.exit(3);
};
sock.setTimeout(10000, () => fail(new Error('timed out')));
sock.on('error', fail);
let connected = false;
sock.on('secureConnect', () => {
  connected = true;
  console.log('connected');
  sock.write(`GET /__health HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
});
let answer = '';
sock.on('data', (d) => { answer += d; });
sock.on('close', () => {
  // A connection cut before the handshake is an error too (some refusals
  // reach Node as an end of stream rather than as an 'error').
  if (!connected) fail(new Error('closed before the TLS handshake'));
  console.log(answer.split('\r\n')[0]);
  process.exit(answer.startsWith('HTTP/1.1 200') ? 0 : 4);
});
