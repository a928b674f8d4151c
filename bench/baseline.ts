// The bench's baseline: bare fastify over HTTPS with the webhook's TLS settings and body limit,
// that parses the JSON body and answers a fixed AdmissionReview; plus a plain-HTTP /readyz, like
// the webhook's health port, so both are timed from process start to ready the same way.
// usage: node baseline.js CERT KEY PORT HEALTH_PORT
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [cert, key, port, healthPort] = process.argv.slice(2);
if (!cert || !key || !port || !healthPort) throw new Error('usage: baseline.js CERT KEY PORT HEALTH_PORT');

const answer = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'fixed', allowed: true } };
const app = Fastify({ https: { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, bodyLimit: 7 * 1024 * 1024 });
app.post('/mutate', async (request) => (request.body === undefined ? {} : answer));
const health = Fastify();
health.get('/readyz', async () => ({ ready: true }));
await app.listen({ port: Number(port), host: '127.0.0.1' });
await health.listen({ port: Number(healthPort), host: '127.0.0.1' });

process.on('SIGTERM', () => {
  void Promise.all([app.close(), health.close()]).then(() => process.exit(0));
});
