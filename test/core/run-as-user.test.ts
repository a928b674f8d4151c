// OpenShift's restricted-v2 SCC: `run-as-user: omit` (serve setting or pod annotation) leaves the
// UID to the platform only where the template records a numeric non-root image USER.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import { syntheticReview } from '../../src/core/review.js';
import type { CoreSettings, Pod, Registry } from '../../src/core/types.js';
import { parseServeConfig } from '../../src/config/serve-config.js';
import { loadRegistry } from '../../src/registry/load.js';
import jsonPatch, { type Operation } from 'fast-json-patch';

let registry: Registry;
before(async () => {
  registry = await loadRegistry();
});

function exporterSecurity(annotations: Record<string, string>, settings: CoreSettings) {
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations }, spec: { containers: [{ name: 'redis', image: 'redis:7.2' }] } };
  const { patch, outcome } = admit(syntheticReview(pod, 'shop'), registry, settings);
  assert.equal(outcome.decision, 'injected', JSON.stringify(outcome.problems));
  const injected = jsonPatch.applyPatch(structuredClone(pod), patch as Operation[], true, false).newDocument;
  return { sc: injected.spec?.initContainers?.[0]?.securityContext, warnings: outcome.warnings };
}

describe('run-as-user', () => {
  it('omits runAsUser and runAsGroup for redis (numeric USER) when the setting says omit, keeping runAsNonRoot', () => {
    const { sc } = exporterSecurity({ 'exporter-injector.io/inject': 'redis' }, { ...DEFAULT_CORE_SETTINGS, runAsUser: 'omit' });
    assert.equal(sc?.runAsUser, undefined);
    assert.equal(sc?.runAsGroup, undefined);
    assert.equal(sc?.runAsNonRoot, true);
  });

  it('lets the pod annotation override the setting, both ways', () => {
    const kept = exporterSecurity({ 'exporter-injector.io/inject': 'redis', 'exporter-injector.io/run-as-user': 'template' }, { ...DEFAULT_CORE_SETTINGS, runAsUser: 'omit' });
    assert.equal(kept.sc?.runAsUser, 59000);
    const omitted = exporterSecurity({ 'exporter-injector.io/inject': 'redis', 'exporter-injector.io/run-as-user': 'omit' }, DEFAULT_CORE_SETTINGS);
    assert.equal(omitted.sc?.runAsUser, undefined);
  });

  it('keeps the UID, with a warning, where the image USER is not known to be numeric', () => {
    const { sc, warnings } = exporterSecurity({ 'exporter-injector.io/inject': 'mysqld', 'exporter-injector.io/mysqld.secret': 's', 'exporter-injector.io/run-as-user': 'omit' }, DEFAULT_CORE_SETTINGS);
    assert.equal(sc?.runAsUser, 65534);
    assert.ok(warnings.some((w) => /run-as-user omit is not possible/.test(w)), warnings.join('\n'));
  });

  it('is a serve setting (flag and environment), validated', () => {
    const files = { kind: () => 'file' as const };
    assert.equal(parseServeConfig([], {}, files).runAsUser, 'template');
    assert.equal(parseServeConfig(['--run-as-user', 'omit'], {}, files).runAsUser, 'omit');
    assert.equal(parseServeConfig([], { EXPORTER_INJECTOR_RUN_AS_USER: 'omit' }, files).runAsUser, 'omit');
    assert.throws(() => parseServeConfig(['--run-as-user', 'never'], {}, files), (e: Error & { details?: string[] }) => (e.details ?? []).some((d) => /never/.test(d) && /template/.test(d)));
  });
});
