// A bench target in its own process, so the load generator does not share its event loop:
// `webhook` is the real serve runtime; `baseline` is bare fastify over HTTPS that only parses
// the body. Reports its port, then its memory and CPU when asked, over IPC.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { parseServeConfig } from '../src/config/serve-config.js';
import { createLogger } from '../src/server/logger.js';
import { startWebhook } from '../src/server/runtime.js';

type Message = { type: 'stats' } | { type: 'stop' };

const [kind, certDir] = process.argv.slice(2);
if ((kind !== 'webhook' && kind !== 'baseline') || !certDir) throw new Error('usage: server.ts webhook|baseline CERT_DIR');

const cert = join(certDir, 'tls.crt');
const key = join(certDir, 'tls.key');
let stop: () => Promise<unknown>;
let port: number;

if (kind === 'webhook') {
  const config = parseServeConfig(['--port', '0', '--health-port', '0', '--host', '127.0.0.1', '--tls-cert', cert, '--tls-key', key, '--sidecar-mode', 'native'], {});
  // Production logging: one JSON line per admission, to stdout (the parent points it at /dev/null).
  const webhook = await startWebhook({ config, logger: createLogger('info'), sidecarMode: 'native' });
  port = webhook.httpsPort;
  stop = () => webhook.shutdown();
} else {
  const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, bodyLimit: 7 * 1024 * 1024 });
  app.post('/mutate', async () => ({}));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  stop = () => app.close();
}

const cpuAtStart = process.cpuUsage();
process.on('message', (m: Message) => {
  if (m.type === 'stats') {
    const cpu = process.cpuUsage(cpuAtStart);
    process.send?.({ type: 'stats', rss: process.memoryUsage().rss, cpuMicros: cpu.user + cpu.system });
  } else if (m.type === 'stop') {
    void stop().then(() => process.exit(0));
  }
});
process.send?.({ type: 'ready', port });
