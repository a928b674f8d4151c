// Hot reload while requests flow: a renewed certificate (as cert-manager renews a mounted Secret),
// a broken certificate pair, and a templates ConfigMap that turns invalid and then valid again.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { BUILTIN_DIR } from '../../src/registry/load.js';
import type { RunningWebhook } from '../../src/server/runtime.js';
import { ApiServerStandIn } from '../helpers/api-server-standin.js';
import {
  flow,
  healthGet,
  logCapture,
  moreRequests,
  oldTlsOutcome,
  optedInPod,
  ProjectedFolder,
  sample,
  startTestWebhook,
  tempDir,
  testPki,
  until,
  userTemplate,
  type TestPki,
} from './fixtures.js';

/** Requests that must all succeed while something changes underneath. */
function injectingFlow(apiServer: ApiServerStandIn, templates: () => string[], fresh?: ApiServerStandIn) {
  return flow(6, async (i) => {
    const names = templates();
    const name = names[i % names.length]!;
    // Some loops reuse kept-alive connections, others open a new one (a new TLS handshake) each time.
    const answer = i % 2 === 0 || !fresh ? await apiServer.review(optedInPod(name)) : await fresh.review(optedInPod(name));
    assert.equal(answer.allowed, true, `${name}: ${answer.status?.message ?? ''}`);
    assert.ok(answer.patch && answer.patch.length > 0, `${name} injected`);
  });
}

describe('certificate reload', () => {
  let pki: TestPki;
  let dir: string;
  let folder: ProjectedFolder;
  let webhook: RunningWebhook;
  let logs: ReturnType<typeof logCapture>;
  let apiServer: ApiServerStandIn;
  let freshConnections: ApiServerStandIn;

  before(async () => {
    pki = testPki();
    dir = await tempDir('certs');
    const pair = pki.issue({ days: 10 });
    folder = await ProjectedFolder.create(dir, { 'tls.crt': pair.cert, 'tls.key': pair.key, 'ca.crt': pki.ca.cert });
    ({ webhook, logs } = await startTestWebhook(dir));
    apiServer = new ApiServerStandIn({ port: webhook.httpsPort, caCert: pki.ca.cert, maxSockets: 3 });
    freshConnections = new ApiServerStandIn({ port: webhook.httpsPort, caCert: pki.ca.cert, maxSockets: 3 });
  });
  after(async () => {
    apiServer.close();
    freshConnections.close();
    await webhook.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  /** The certificate a brand-new connection is given. */
  const servedFingerprint = async (): Promise<string> => (await freshConnections.send('{}', { 'Content-Type': 'application/json' }, false)).fingerprint;
  const failuresCounted = async (): Promise<number> => sample((await healthGet(webhook.healthPort, '/metrics')).body, 'exporter_injector_certificate_reload_failures_total') ?? -1;

  it('serves a renewed certificate without a restart and without failing a request', async () => {
    const before = await servedFingerprint();
    assert.equal(before, webhook.certificate.pair.fingerprint);
    const load = injectingFlow(apiServer, () => ['redis'], freshConnections);
    await moreRequests(load, 20);

    const renewed = pki.issue({ days: 20 });
    await folder.update({ 'tls.crt': renewed.cert, 'tls.key': renewed.key, 'ca.crt': pki.ca.cert });
    await until('the renewed certificate to be served', async () => (await servedFingerprint()) !== before);
    await moreRequests(load, 20);
    const { ok, failures } = await load.stop();

    assert.deepEqual(failures, [], 'no request may fail during a certificate reload');
    assert.ok(ok >= 40);
    assert.equal(await servedFingerprint(), webhook.certificate.pair.fingerprint);
    const metrics = (await healthGet(webhook.healthPort, '/metrics')).body;
    assert.equal(sample(metrics, 'exporter_injector_certificate_expiry_timestamp_seconds'), webhook.certificate.pair.notAfter.getTime() / 1000);
    assert.ok(logs.lines().some((l) => l.msg === 'serving certificate reloaded' && l.previousFingerprint === before));
    assert.equal(await failuresCounted(), 0);
    assert.equal(await oldTlsOutcome(webhook.httpsPort), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the reloaded context keeps TLS 1.2 as the minimum');
  });

  it('refuses a broken pair, counts and logs it, and keeps serving the previous certificate', async () => {
    const serving = await servedFingerprint();
    const failures0 = await failuresCounted();
    const load = injectingFlow(apiServer, () => ['redis'], freshConnections);

    // A key that belongs to another certificate.
    const a = pki.issue();
    const b = pki.issue();
    await folder.update({ 'tls.crt': a.cert, 'tls.key': b.key, 'ca.crt': pki.ca.cert });
    await until('the mismatched pair to be refused', async () => (await failuresCounted()) === failures0 + 1);
    await moreRequests(load, 20);
    assert.equal(await servedFingerprint(), serving, 'the previous certificate still serves');

    // Not a certificate at all.
    await folder.update({ 'tls.crt': 'not a certificate\n', 'tls.key': a.key, 'ca.crt': pki.ca.cert });
    await until('the unreadable certificate to be refused', async () => (await failuresCounted()) === failures0 + 2);
    await moreRequests(load, 20);
    assert.equal(await servedFingerprint(), serving);

    const ready = await healthGet(webhook.healthPort, '/readyz');
    assert.equal(ready.status, 200, 'a refused reload does not make the webhook unready');
    const refused = logs.lines().filter((l) => l.msg === 'refused the changed certificate/key pair; the previous certificate keeps serving');
    assert.equal(refused.length, 2);
    assert.match(JSON.stringify(refused[0]?.err), /does not belong to the certificate/);

    // A good pair afterwards is taken.
    await folder.update({ 'tls.crt': a.cert, 'tls.key': a.key, 'ca.crt': pki.ca.cert });
    await until('the repaired pair to be served', async () => (await servedFingerprint()) !== serving);
    const { failures } = await load.stop();
    assert.deepEqual(failures, []);
  });
});

describe('templates reload', () => {
  let pki: TestPki;
  let certDir: string;
  let templatesDir: string;
  let folder: ProjectedFolder;
  let webhook: RunningWebhook;
  let logs: ReturnType<typeof logCapture>;
  let apiServer: ApiServerStandIn;
  let redisYaml: string;

  before(async () => {
    pki = testPki();
    certDir = await tempDir('tpl-certs');
    templatesDir = await tempDir('templates');
    redisYaml = await readFile(`${BUILTIN_DIR}/redis.yaml`, 'utf8');
    const pair = pki.issue();
    await ProjectedFolder.create(certDir, { 'tls.crt': pair.cert, 'tls.key': pair.key });
    folder = await ProjectedFolder.create(templatesDir, { 'tredis.yaml': userTemplate('tredis', redisYaml) });
    ({ webhook, logs } = await startTestWebhook(certDir, ['--templates', templatesDir]));
    apiServer = new ApiServerStandIn({ port: webhook.httpsPort, caCert: pki.ca.cert, maxSockets: 6 });
  });
  after(async () => {
    apiServer.close();
    await webhook.shutdown();
    await rm(certDir, { recursive: true, force: true });
    await rm(templatesDir, { recursive: true, force: true });
  });

  const metric = async (name: string): Promise<number | undefined> => sample((await healthGet(webhook.healthPort, '/metrics')).body, name);

  it('keeps the last good registry when a change is invalid, then applies a good change, with no failed request', async () => {
    const size0 = await metric('exporter_injector_registry_templates');
    let templates = ['redis', 'tredis'];
    const load = injectingFlow(apiServer, () => templates);
    await moreRequests(load, 20);

    // One good edit and one broken file in the same change: refused as a whole.
    await folder.update({
      'tredis.yaml': userTemplate('tredis', redisYaml, '2.0.0'),
      'broken.yaml': 'name: broken\nport: ninety\n',
    });
    await until('the broken change to be refused', async () => (await metric('exporter_injector_registry_reload_failures_total')) === 1);
    await moreRequests(load, 20);
    const refused = logs.lines().find((l) => l.msg === 'refused the changed templates; the last good registry keeps serving');
    const problems = (refused?.problems ?? []) as string[];
    assert.ok(problems.length > 1, 'every problem is logged');
    assert.ok(problems.every((p) => p.includes('broken.yaml')), problems.join('\n'));
    assert.equal(webhook.templates.current.get().templates.get('tredis')?.version, '1.0.0', 'the good edit in a refused change is not applied');
    const unknown = await apiServer.review(optedInPod('broken'));
    assert.equal(unknown.allowed, false, 'a template from a refused change does not exist');

    // The broken file fixed: the whole change applies, and a new template is usable at once.
    await folder.update({
      'tredis.yaml': userTemplate('tredis', redisYaml, '2.0.0'),
      'oredis.yaml': userTemplate('oredis', redisYaml),
    });
    await until('the good change to be applied', async () => (await metric('exporter_injector_registry_templates')) === (size0 ?? 0) + 1);
    templates = ['redis', 'tredis', 'oredis'];
    await moreRequests(load, 30);
    const { ok, failures } = await load.stop();

    assert.deepEqual(failures, [], 'no request may fail during a templates reload');
    assert.ok(ok >= 70);
    assert.equal(webhook.templates.current.get().templates.get('tredis')?.version, '2.0.0');
    const injected = await apiServer.review(optedInPod('oredis'));
    const names = ((injected.pod.spec as { initContainers?: { name: string }[] }).initContainers ?? []).map((c) => c.name);
    assert.deepEqual(names, ['oredis-exporter']);
    assert.equal(await metric('exporter_injector_registry_reload_failures_total'), 1);
    assert.ok(logs.lines().some((l) => l.msg === 'template registry reloaded'));
  });
});
