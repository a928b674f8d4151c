// The PrometheusRule in docs/operations.md, as users copy it: Prometheus's own promtool checks the rules and
// runs them over synthetic series, proving each alert fires on what it is about and stays quiet otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'operations.md');
// The entries register writes (policy optional fails open, policy required is refused).
const OPTIONAL = 'optional.inject.exporter-injector.io';
const REQUIRED = 'required.inject.exporter-injector.io';

function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`promtool (Debian package prometheus, installed by test/conformance/setup.sh) cannot run: ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the alert rules of docs/operations.md', () => {
  let dir: string;
  let rules: { groups: { rules: { alert: string; annotations: Record<string, string> }[] }[] };

  before(async () => {
    const text = await readFile(DOC, 'utf8');
    const block = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').find((b) => b.includes('kind: PrometheusRule'));
    assert.ok(block, 'docs/operations.md has a PrometheusRule yaml block');
    const rule = parse(block) as { kind: string; spec: typeof rules };
    assert.equal(rule.kind, 'PrometheusRule');
    rules = { groups: rule.spec.groups };
    dir = await mkdtemp(join(tmpdir(), 'ei-alerts-'));
    await writeFile(join(dir, 'rules.yaml'), stringify(rules));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('passes promtool check rules', () => {
    const r = promtool(['check', 'rules', join(dir, 'rules.yaml')]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: 4 rules found/);
  });

  it('fire on missed and failing webhook calls, internal errors and a near expiry, and only then', async () => {
    const annotations = (alert: string, labels: Record<string, string> = {}): Record<string, string> => {
      const a = rules.groups[0]?.rules.find((r) => r.alert === alert)?.annotations ?? {};
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v.replace('{{ $labels.name }}', labels.name ?? '')]));
    };
    const fired = (alert: string, labels: Record<string, string>) => [{ exp_labels: labels, exp_annotations: annotations(alert, labels) }];
    const tests = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // Ours fails open from minute 5; another webhook's failures are not ours.
            { series: `apiserver_admission_webhook_fail_open_count{name="${OPTIONAL}",type="admit"}`, values: '0x4 1+1x10' },
            { series: 'apiserver_admission_webhook_fail_open_count{name="other.example.com",type="admit"}', values: '0+1x15' },
            // failurePolicy Fail: calls failing from minute 5; denials (no_error) never page.
            { series: `apiserver_admission_webhook_rejection_count{name="${REQUIRED}",type="admit",operation="CREATE",error_type="calling_webhook_error",rejection_code="0"}`, values: '0x4 2+2x10' },
            { series: `apiserver_admission_webhook_rejection_count{name="${REQUIRED}",type="admit",operation="CREATE",error_type="no_error",rejection_code="403"}`, values: '0+3x15' },
            { series: 'exporter_injector_admissions_total{decision="error",reason="EI_ERR_INTERNAL"}', values: '0x4 1x10' },
            { series: 'exporter_injector_admissions_total{decision="denied",reason="denied"}', values: '0+5x15' },
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'ExporterInjectorWebhookFailedOpen', exp_alerts: [] },
            { eval_time: '10m', alertname: 'ExporterInjectorWebhookFailedOpen', exp_alerts: fired('ExporterInjectorWebhookFailedOpen', { severity: 'warning', name: OPTIONAL }) },
            { eval_time: '3m', alertname: 'ExporterInjectorWebhookCallsFailing', exp_alerts: [] },
            { eval_time: '10m', alertname: 'ExporterInjectorWebhookCallsFailing', exp_alerts: fired('ExporterInjectorWebhookCallsFailing', { severity: 'critical', name: REQUIRED }) },
            { eval_time: '3m', alertname: 'ExporterInjectorInternalErrors', exp_alerts: [] },
            { eval_time: '10m', alertname: 'ExporterInjectorInternalErrors', exp_alerts: fired('ExporterInjectorInternalErrors', { severity: 'warning' }) },
          ],
        },
        {
          // promtool's clock starts at 0: 10 days of validity left, then 30.
          interval: '1m',
          input_series: [{ series: 'exporter_injector_certificate_expiry_timestamp_seconds', values: '864000x200' }],
          alert_rule_test: [
            { eval_time: '30m', alertname: 'ExporterInjectorCertificateExpiresSoon', exp_alerts: [] },
            { eval_time: '2h', alertname: 'ExporterInjectorCertificateExpiresSoon', exp_alerts: fired('ExporterInjectorCertificateExpiresSoon', { severity: 'warning' }) },
          ],
        },
        {
          interval: '1m',
          input_series: [{ series: 'exporter_injector_certificate_expiry_timestamp_seconds', values: '2592000x200' }],
          alert_rule_test: [{ eval_time: '3h', alertname: 'ExporterInjectorCertificateExpiresSoon', exp_alerts: [] }],
        },
      ],
    };
    await writeFile(join(dir, 'tests.yaml'), stringify(tests));
    const r = promtool(['test', 'rules', join(dir, 'tests.yaml')]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
    // The tests can fail: a wrong expectation is reported as such.
    const wrong = structuredClone(tests);
    wrong.tests[0]!.alert_rule_test[0]!.exp_alerts = fired('ExporterInjectorWebhookFailedOpen', { severity: 'warning', name: OPTIONAL }) as never;
    await writeFile(join(dir, 'wrong.yaml'), stringify(wrong));
    assert.notEqual(promtool(['test', 'rules', join(dir, 'wrong.yaml')]).status, 0);
  });
});
