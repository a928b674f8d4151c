// The webhook's Prometheus metrics, on a registry of their own (never prom-client's global one),
// so two servers in one process (tests, the benchmark) do not share or clash on counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from '../core/types.js';
import { VERSION } from '../package-info.js';

const PREFIX = 'exporter_injector_';

export interface WebhookMetrics {
  readonly registry: Registry;
  /**
   * decision is injected / skipped / denied, or `error` with the error code as reason. A denial's
   * reason is the code of its first problem (EI_ERR_*, a bounded set).
   */
  readonly admissions: Counter<'decision' | 'reason'>;
  /** Every problem found in an admission that was denied, or skipped under policy optional, by code. */
  readonly admissionProblems: Counter<'decision' | 'code'>;
  readonly admissionDuration: Histogram<'decision'>;
  readonly injections: Counter<'template'>;
  readonly registryTemplates: Gauge;
  readonly registryReloadFailures: Counter;
  readonly certificateReloadFailures: Counter;
  readonly certificateExpiry: Gauge;
  recordOutcome(outcome: Outcome, seconds: number): void;
  recordError(code: string, seconds: number): void;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): WebhookMetrics {
  const registry = new Registry();
  // Without our prefix: process_* and nodejs_* are the names standard Node.js and process
  // dashboards and alerts query.
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: `${PREFIX}build_info`,
    help: 'Always 1; the labels say which version of exporter-injector runs, on which Node.js.',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
  }).set({ version: VERSION, node_version: process.version }, 1);

  const admissionTally = new Tally<'decision' | 'reason'>();
  const injectionTally = new Tally<'template'>();
  const admissions = new Counter({
    name: `${PREFIX}admissions_total`,
    help: 'Admission reviews answered, by decision (injected, skipped, denied, error) and reason (skip reason or error code).',
    labelNames: ['decision', 'reason'] as const,
    registers: [registry],
    collect() {
      admissionTally.copyTo(this);
    },
  });
  const admissionProblems = new Counter({
    name: `${PREFIX}admission_problems_total`,
    help: 'Problems found in admissions that were denied, or skipped under policy optional, by decision and problem code (EI_ERR_*).',
    labelNames: ['decision', 'code'] as const,
    registers: [registry],
  });
  const admissionDuration = new Histogram({
    name: `${PREFIX}admission_duration_seconds`,
    help: 'Time from a parsed request body to the answer, by decision.',
    labelNames: ['decision'] as const,
    // The API server's default webhook timeout is 10 s; the interesting range is well under 10 ms.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const injections = new Counter({
    name: `${PREFIX}injections_total`,
    help: 'Exporter sidecars injected, by template.',
    labelNames: ['template'] as const,
    registers: [registry],
    collect() {
      injectionTally.copyTo(this);
    },
  });
  const registryTemplates = new Gauge({
    name: `${PREFIX}registry_templates`,
    help: 'Templates in the registry that is serving.',
    registers: [registry],
  });
  const registryReloadFailures = new Counter({
    name: `${PREFIX}registry_reload_failures_total`,
    help: 'Template directory changes refused because a template was invalid (the last good registry kept serving).',
    registers: [registry],
  });
  const certificateReloadFailures = new Counter({
    name: `${PREFIX}certificate_reload_failures_total`,
    help: 'Certificate/key changes refused because the pair was unreadable or did not match (the old pair kept serving).',
    registers: [registry],
  });
  const certificateExpiry = new Gauge({
    name: `${PREFIX}certificate_expiry_timestamp_seconds`,
    help: 'notAfter of the serving certificate, as a Unix timestamp.',
    registers: [registry],
  });

  // The label sets are few and fixed; the labelled histogram child is looked up once.
  const durationChildren = new Map<string, { observe(v: number): void }>();
  const problemChildren = new Map<string, { inc(): void }>();
  const duration = (decision: string) => {
    let child = durationChildren.get(decision);
    if (!child) durationChildren.set(decision, (child = admissionDuration.labels({ decision })));
    return child;
  };

  return {
    registry,
    admissions,
    admissionProblems,
    admissionDuration,
    injections,
    registryTemplates,
    registryReloadFailures,
    certificateReloadFailures,
    certificateExpiry,
    recordOutcome(outcome, seconds) {
      const first = outcome.problems[0];
      const reason = outcome.decision === 'denied' && first ? first.code : outcome.reason;
      admissionTally.add(`${outcome.decision}\0${reason}`, () => ({ decision: outcome.decision, reason }));
      duration(outcome.decision).observe(seconds);
      for (const problem of outcome.problems) {
        const key = `${outcome.decision}\0${problem.code}`;
        let child = problemChildren.get(key);
        if (!child) problemChildren.set(key, (child = admissionProblems.labels({ decision: outcome.decision, code: problem.code })));
        child.inc();
      }
      if (outcome.decision !== 'injected') return;
      for (const template of outcome.templates) injectionTally.add(template, () => ({ template }));
    },
    recordError(code, seconds) {
      admissionTally.add(`error\0${code}`, () => ({ decision: 'error', reason: code }));
      duration('error').observe(seconds);
    },
  };
}

/**
 * Counts kept in a plain map on the request path and copied into their prom-client counter when
 * it is scraped (its collect hook): prom-client validates and hashes the labels on every inc().
 */
class Tally<L extends string> {
  readonly #counts = new Map<string, { labels: Partial<Record<L, string>>; n: number }>();

  add(key: string, labels: () => Partial<Record<L, string>>): void {
    const entry = this.#counts.get(key);
    if (entry) entry.n += 1;
    else this.#counts.set(key, { labels: labels(), n: 1 });
  }

  copyTo(counter: Counter<L>): void {
    counter.reset();
    for (const { labels, n } of this.#counts.values()) counter.inc(labels, n);
  }
}
