/**
 * The baseline of `npm run bench:serve`: a bare fastify hello-world on 127.0.0.1 (no hooks, no plugins),
 * answering a small JSON body. Prints its port on stdout; exits on SIGTERM or when its stdin ends.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
// The bench holds our stdin open: when it ends (the bench is gone, even killed), so are we.
process.stdin.once('end', () => process.exit(0)).resume();
