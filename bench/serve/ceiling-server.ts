/**
 * The load generator's ceiling for `npm run bench:serve`: a raw TCP server on 127.0.0.1 that answers every
 * request (each GET ends with a blank line) with a canned response, parsing nothing. Much lighter than any HTTP
 * server, so wrk against it shows how many requests per second the generator itself can drive on this machine.
 * Prints its port on stdout; exits on SIGTERM or when its stdin ends.
 */
import { createServer } from 'node:net';

const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok');
const END = Buffer.from('\r\n\r\n');
const responses = [Buffer.alloc(0), response];

function answers(count: number): Buffer {
  while (responses.length <= count) responses.push(Buffer.concat([responses.at(-1) as Buffer, response]));
  return responses[count] as Buffer;
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  // Bytes kept from the last chunk, so a request end split across two chunks is still counted once.
  let carry = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let count = 0;
    let from = 0;
    for (let at = data.indexOf(END, from); at >= 0; at = data.indexOf(END, from)) {
      count++;
      from = at + END.length;
    }
    carry = Buffer.from(data.subarray(Math.max(from, data.length - (END.length - 1))));
    if (count > 0) socket.write(answers(count));
  });
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  process.exit(0);
});
// The bench holds our stdin open: when it ends (the bench is gone, even killed), so are we.
process.stdin.once('end', () => process.exit(0)).resume();
