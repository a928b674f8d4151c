// `exporter-injector check` against the cluster stand-in, with the real webhook behind the Service over TLS:
// all pass on a healthy installation, and each broken one fails exactly the checks that name its cause.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AdmitResult } from '../../src/core/admit.js';
import { issueServingCertificate } from '../../src/tls/generate.js';
import { startWebhookBackend, webhookInstallation } from '../helpers/cluster-standin.js';
import { install, pki, run, type Installation, type InstallOptions, type Pki } from './installation.js';

interface JsonReport {
  ok: boolean;
  results: { id: string; status: string; summary: string; details: string[]; fix?: string }[];
}

async function checkJson(installation: Installation, extra: string[] = []): Promise<{ code: number; report: JsonReport; text: string }> {
  const kubeconfig = installation.cluster.kubeconfigPath;
  const json = await run(['check', '--kubeconfig', kubeconfig, '-o', 'json', ...extra]);
  const text = await run(['check', '--kubeconfig', kubeconfig, ...extra]);
  assert.equal(json.stderr, '', json.stderr);
  assert.equal(json.code, text.code, 'text and json exit alike');
  return { code: json.code, report: JSON.parse(json.stdout) as JsonReport, text: text.stdout };
}

/** The core's answer with only the patch operations `keep` selects. */
function keepPatchOps(r: AdmitResult, keep: (op: { op: string; path: string }) => boolean): AdmitResult {
  const response = r.review.response;
  if (response.patch === undefined) return r;
  const ops = (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as { op: string; path: string }[]).filter(keep);
  return { ...r, review: { ...r.review, response: { ...response, patch: Buffer.from(JSON.stringify(ops)).toString('base64') } } };
}

function byStatus(report: JsonReport, status: string): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.id).sort();
}

// Kubernetes 1.30 (the stand-in's version): the configuration, the final-state policy and its binding.
const ALL = ['ca-bundle', 'configuration', 'endpoints', 'expiry', 'mounted-secret', 'policy', 'policy-binding', 'probe-inject', 'probe-skip', 'replicas'];

describe('check', () => {
  let good: Pki;
  let other: Pki;
  let expired: Pki;
  let expiringSoon: Pki;

  before(() => {
    good = pki();
    other = pki();
    expired = pki({ now: new Date(Date.now() - 400 * 24 * 3600 * 1000), days: 30, ca: good.ca });
    expiringSoon = pki({ days: 10, ca: good.ca });
  });

  const withInstallation = async (options: InstallOptions, body: (i: Installation) => Promise<void>): Promise<void> => {
    const installation = await install(options);
    try {
      await body(installation);
    } finally {
      await installation.stop();
    }
  };

  it('passes every check on a healthy installation, and the probes went through the webhook over TLS', async () => {
    await withInstallation({ tls: good }, async (i) => {
      const { code, report, text } = await checkJson(i);
      assert.equal(code, 0, text);
      assert.deepEqual(byStatus(report, 'pass'), ALL, text);
      assert.equal(report.ok, true);
      assert.match(text, /^✓ mutatingwebhookconfiguration\/exporter-injector matches what register writes$/m);
      assert.match(text, /^✓ a dry-run pod that opts in to redis in namespace default came back with redis-exporter and the status annotation$/m);
      assert.match(text, /^10 passed, 0 warnings, 0 failed$/m);
      // matchConditions: only the pod that opted in was sent to the webhook (to the entry for policy required).
      assert.deepEqual(
        i.cluster.webhookCalls.map((c) => `${c.webhook} ${c.pod.replace(/-\w+$/, '')}`),
        ['required.inject.exporter-injector.io exporter-injector-check-inject', 'required.inject.exporter-injector.io exporter-injector-check-inject'],
      );
      const creates = i.cluster.api.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/default/pods');
      assert.equal(creates.length, 4, 'two probes per run, two runs');
      assert.ok(creates.every((r) => r.query.get('dryRun') === 'All'), 'every probe is a server-side dry run');
    });
  });

  it('falls back to the Endpoints object where the EndpointSlice API is missing', async () => {
    await withInstallation({ tls: good, withoutEndpointSlices: true }, async (i) => {
      const { code, report } = await checkJson(i);
      assert.equal(code, 0);
      assert.match(report.results.find((r) => r.id === 'endpoints')?.details.join() ?? '', /^$/);
      assert.ok(i.cluster.calls().some((c) => c === 'GET /api/v1/namespaces/exporter-injector/endpoints/exporter-injector'));
    });
  });

  it('warns (exit 0) when the serving certificate expires within --expiry-warning-days', async () => {
    await withInstallation({ tls: expiringSoon }, async (i) => {
      const { code, report, text } = await checkJson(i);
      assert.equal(code, 0, text);
      assert.deepEqual(byStatus(report, 'warn'), ['expiry']);
      assert.match(text, /^! the serving certificate in secret\/exporter-injector-tls expires in 9 days .*warning under 30\)$/m);
      assert.match(text, /^ {4}fix: renew it:/m);
      const relaxed = await checkJson(i, ['--expiry-warning-days', '5']);
      assert.deepEqual(byStatus(relaxed.report, 'warn'), []);
    });
  });

  const broken: [string, () => InstallOptions, string[], RegExp][] = [
    ['a caBundle of another CA', () => ({ tls: good, caBundle: other.ca.cert }), ['ca-bundle', 'probe-inject'], /^✗ caBundle does not verify the serving certificate in secret\/exporter-injector-tls\n {4}webhook [a-z.-]+: the serving certificate \(issuer .*\) is not signed by the caBundle's certificate/m],
    ['an expired certificate', () => ({ tls: expired }), ['expiry', 'probe-inject'], /^✗ the serving certificate in secret\/exporter-injector-tls expired on .* \(\d+ days ago\)$/m],
    ['no ready endpoints', () => ({ tls: good, readyEndpoints: false }), ['endpoints', 'probe-inject'], /^✗ service\/exporter-injector has no ready endpoints for port 443 \(1 not ready\)$/m],
    ['no webhook configuration', () => ({ tls: good, unregistered: true }), ['configuration', 'policy', 'policy-binding', 'probe-inject'], /^✗ mutatingwebhookconfiguration\/exporter-injector does not exist: the API server calls no webhook\n {4}fix: create it: exporter-injector register/m],
    [
      'a webhook that answers without a patch',
      () => ({ tls: good, backend: { transform: (r) => ({ ...r, review: { ...r.review, response: { uid: r.review.response.uid, allowed: true } } }) } }),
      ['probe-inject'],
      /^✗ a dry-run pod that opts in to redis in namespace default came back without an exporter container and the status annotation$/m,
    ],
    [
      'a webhook whose patch sets the status annotation but adds no container',
      () => ({ tls: good, backend: { transform: (r) => keepPatchOps(r, (op) => op.path.startsWith('/metadata')) } }),
      ['probe-inject'],
      /^✗ a dry-run pod that opts in to redis in namespace default came back without the exporter container redis-exporter$/m,
    ],
    ['a Secret other than the one mounted', () => ({ tls: good, mountedSecret: 'renewed-tls' }), ['mounted-secret'], /^✗ deployment\/exporter-injector does not mount secret\/exporter-injector-tls; it mounts secret\/renewed-tls\n.*\n {4}fix: check the Secret the webhook serves from: exporter-injector check --secret renewed-tls/m],
    [
      'a configuration that differs from what register writes',
      () => ({ tls: good, registerFlags: ['--timeout', '10', '--label-gate'] }),
      ['configuration'],
      /^✗ mutatingwebhookconfiguration\/exporter-injector differs from what register writes \(\d+ fields; in the cluster -> expected\)\n(?: {4}webhooks\[[a-z.-]+\]\.(?:objectSelector: \{"matchLabels":\{"exporter-injector\.io\/enabled":"true"\}\} -> \(unset\)|timeoutSeconds: 10 -> 5)\n)+ {4}fix: run exporter-injector register; or, if the differences are intended, pass check the same flags register was given$/m,
    ],
  ];

  for (const [what, options, failing, line] of broken) {
    it(`names the failure for ${what}, exit 1`, async () => {
      await withInstallation(options(), async (i) => {
        const { code, report, text } = await checkJson(i);
        assert.equal(code, 1, text);
        assert.equal(report.ok, false);
        assert.deepEqual(byStatus(report, 'fail'), failing, text);
        assert.match(text, line, text);
        for (const r of report.results.filter((x) => x.status === 'fail')) assert.ok(r.fix, `${r.id} has a fix`);
      });
    });
  }

  it('failurePolicy Fail and no endpoints: the opted-in probe is refused with the API server\'s message; the other one is not sent', async () => {
    await withInstallation({ tls: good, readyEndpoints: false, registerFlags: ['--failure-policy', 'Fail'] }, async (i) => {
      const { code, report, text } = await checkJson(i, ['--failure-policy', 'Fail']);
      assert.equal(code, 1, text);
      assert.deepEqual(byStatus(report, 'fail'), ['endpoints', 'probe-inject'], text);
      assert.match(
        text,
        /^✗ a dry-run pod that opts in to redis in namespace default was refused\n {4}cannot dry-run create pods\/exporter-injector-check-inject-\w+ in namespace default: HTTP 500: Internal error occurred: failed calling webhook "required\.inject\.exporter-injector\.io": failed to call webhook: Post "https:\/\/exporter-injector\.exporter-injector\.svc:443\/mutate\?timeout=5s": no endpoints available for service "exporter-injector"$/m,
      );
      assert.match(text, /^✓ a dry-run pod that does not opt in, in namespace default, came back without injection$/m);
      assert.ok(!i.cluster.webhookCalls.some((c) => c.pod.startsWith('exporter-injector-check-skip')), 'matchConditions kept it from the webhook');
    });
  });

  it('an unreachable API server is an error naming where (exit 1), not a list of failed checks', async () => {
    const i = await install({ tls: good });
    const kubeconfig = i.cluster.kubeconfigPath;
    const copy = join(tmpdir(), `ei-check-unreachable-${process.pid}.kubeconfig`);
    await writeFile(copy, await readFile(kubeconfig, 'utf8'));
    await i.stop();
    try {
      const r = await run(['check', '--kubeconfig', copy]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^error: cannot read \/version at http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    } finally {
      await rm(copy, { force: true });
    }
  });

  it('is not fooled by another mutating webhook that adds a container to every pod (a mesh)', async () => {
    await withInstallation({ tls: good }, async (i) => {
      const meshPair = issueServingCertificate(good.ca, { service: 'mesh', namespace: 'exporter-injector' });
      const mesh = await startWebhookBackend(meshPair, {
        transform: (r) => {
          const response = { uid: r.review.response.uid, allowed: true, patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify([{ op: 'add', path: '/spec/containers/-', value: { name: 'mesh-proxy', image: 'mesh:1' } }])).toString('base64') };
          return { ...r, review: { ...r.review, response } };
        },
      });
      try {
        for (const o of webhookInstallation({ port: mesh.port, name: 'mesh' })) i.cluster.put(o);
        // A mesh's configuration: every pod CREATE, whatever it carries.
        i.cluster.api.seedMwc({
          apiVersion: 'admissionregistration.k8s.io/v1',
          kind: 'MutatingWebhookConfiguration',
          metadata: { name: 'mesh' },
          webhooks: [
            {
              name: 'sidecar.mesh.example.com',
              clientConfig: { service: { name: 'mesh', namespace: 'exporter-injector', path: '/mutate', port: 443 }, caBundle: Buffer.from(good.ca.cert).toString('base64') },
              rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
              failurePolicy: 'Fail',
              sideEffects: 'None',
              admissionReviewVersions: ['v1'],
            },
          ],
        });
        const { code, report, text } = await checkJson(i);
        assert.equal(code, 0, text);
        assert.deepEqual(byStatus(report, 'pass'), ALL, text);
        // The mesh really adds its container to a pod that did not opt in.
        const res = await fetch(`${i.cluster.api.url}/api/v1/namespaces/default/pods?dryRun=All`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } }),
        });
        const created = (await res.json()) as { spec: { containers: { name: string }[] } };
        assert.deepEqual(created.spec.containers.map((c) => c.name), ['app', 'mesh-proxy']);
      } finally {
        await mesh.close();
      }
    });
  });

  it('with the flags register was given, a gated configuration matches', async () => {
    await withInstallation({ tls: good, registerFlags: ['--timeout', '10', '--label-gate'] }, async (i) => {
      const { code, text } = await checkJson(i, ['--timeout', '10', '--label-gate']);
      assert.equal(code, 0, text);
    });
  });

  it('1.28 with the matchConditions gate off: the legacy shape register fell back to matches, and a warning says why', async () => {
    await withInstallation({ tls: good, kubernetes: { minor: 28, matchConditionsGateOff: true } }, async (i) => {
      const webhooks = (i.cluster.api.mwc('exporter-injector')?.webhooks ?? []) as { failurePolicy: string; matchConditions?: unknown[] }[];
      assert.deepEqual(webhooks.map((w) => [w.failurePolicy, w.matchConditions]), [['Ignore', undefined]], 'register fell back to the legacy shape');
      const { code, report, text } = await checkJson(i);
      assert.equal(code, 0, text);
      assert.deepEqual(byStatus(report, 'fail'), [], text);
      const warned = report.results.filter((r) => r.status === 'warn');
      assert.deepEqual(warned.map((r) => r.id), ['configuration'], text);
      assert.match(warned[0]?.summary ?? '', /stores the webhooks without their matchConditions \(feature gate AdmissionWebhookMatchConditions off\?\)/);
      assert.ok(report.results.some((r) => r.id === 'configuration' && r.status === 'pass'), text);
      assert.equal(i.cluster.api.mwc('exporter-injector-check-dry-run'), undefined, 'the dry run stored nothing');
    });
  });

  it('1.28 with the gate turned on since: the leftover legacy configuration differs from what register now writes', async () => {
    await withInstallation({ tls: good, kubernetes: { minor: 28, matchConditionsGateOff: true } }, async (i) => {
      i.cluster.api.matchConditionsGateOff = false;
      const { code, report, text } = await checkJson(i);
      assert.equal(code, 1, text);
      assert.deepEqual(byStatus(report, 'fail'), ['configuration'], text);
      assert.equal(report.results.filter((r) => r.status === 'warn').length, 0, text);
    });
  });

  it('refuses bad flags before touching the cluster', async () => {
    for (const [argv, message] of [
      [['-o', 'yaml'], /-o "yaml" is invalid; valid: text, json/],
      [['--expiry-warning-days', 'soon'], /--expiry-warning-days "soon" is invalid/],
      [['--failure-policy', 'fail'], /--failure-policy "fail" is invalid \(did you mean Fail\?\); valid: .*Ignore, Fail/],
      [['--bogus'], /check: unknown flag --bogus/],
      [['--probe-namespace', 'Default'], /--probe-namespace "Default" is invalid/],
    ] as const) {
      const r = await run(['check', ...argv]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});


