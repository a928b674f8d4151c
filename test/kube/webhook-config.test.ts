import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { stringify } from 'yaml';
import { isInjectorError } from '../../src/errors.js';
import { buildWebhookConfiguration, type WebhookOptions } from '../../src/kube/webhook-config.js';
import { assertGolden, REFRESH } from '../helpers/golden.js';

const DIR = join(import.meta.dirname, '..', 'testdata', 'webhook');
const CA = readFileSync(join(DIR, 'ca.crt'), 'utf8');

/** Golden `<name>.yaml` in test/testdata/webhook for each set of options. */
const CASES: Record<string, Partial<WebhookOptions>> = {
  default: { caBundle: CA },
  'label-gate-fail-timeout': { labelGate: true, failurePolicy: 'Fail', timeoutSeconds: 10 },
  'custom-names': { name: 'ei-staging', service: 'ei', namespace: 'monitoring', path: '/inject', port: 8443, caBundle: CA },
};

describe('buildWebhookConfiguration', () => {
  for (const [name, options] of Object.entries(CASES)) {
    it(`matches golden ${name}.yaml and the Kubernetes schema`, () => {
      const object = buildWebhookConfiguration(options);
      new MutatingWebhookConfiguration(object as ConstructorParameters<typeof MutatingWebhookConfiguration>[0]).validate();
      assertGolden(join(DIR, `${name}.yaml`), stringify(object, { lineWidth: 0 }));
    });
  }

  it('leaves no golden file that no case owns', { skip: REFRESH ? 'refreshing' : false }, () => {
    const stale = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && !(f.slice(0, -5) in CASES));
    assert.deepEqual(stale, []);
  });

  it('puts the PEM, base64-encoded, in caBundle', () => {
    const hook = buildWebhookConfiguration({ caBundle: CA }).webhooks?.[0];
    assert.equal(Buffer.from(hook?.clientConfig.caBundle ?? '', 'base64').toString('utf8'), CA);
    assert.equal(buildWebhookConfiguration().webhooks?.[0]?.clientConfig.caBundle, undefined);
  });

  it('excludes the system namespaces and its own namespace', () => {
    const values = buildWebhookConfiguration({ namespace: 'platform' }).webhooks?.[0]?.namespaceSelector?.matchExpressions?.[0]?.values;
    assert.deepEqual(values, ['kube-system', 'kube-public', 'kube-node-lease', 'platform']);
  });

  it('rejects every invalid option at once, naming each', () => {
    assert.throws(
      () => buildWebhookConfiguration({ timeoutSeconds: 31, failurePolicy: 'Never' as 'Fail', port: 0, path: 'mutate', namespace: 'Bad_NS', caBundle: 'not a pem' }),
      (e: unknown) => {
        assert.ok(isInjectorError(e, 'EI_ERR_CONFIG_INVALID'));
        assert.equal(e.details.length, 6);
        for (const word of ['timeoutSeconds 31', 'failurePolicy "Never"', 'port 0', `path "mutate"`, 'namespace "Bad_NS"', 'caBundle']) {
          assert.match(e.message, new RegExp(word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        }
        return true;
      },
    );
  });

  it('accepts the API server limits for the timeout: 1 and 30', () => {
    assert.equal(buildWebhookConfiguration({ timeoutSeconds: 1 }).webhooks?.[0]?.timeoutSeconds, 1);
    assert.equal(buildWebhookConfiguration({ timeoutSeconds: 30 }).webhooks?.[0]?.timeoutSeconds, 30);
    assert.throws(() => buildWebhookConfiguration({ timeoutSeconds: 0 }), /timeoutSeconds 0/);
  });
});
