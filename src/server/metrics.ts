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

  // Every admission metric hands over what is pending before it is read, so a scrape is exact.
  const flush = (): void => pending.flush();
  const admissions = new Counter({
    name: `${PREFIX}admissions_total`,
    help: 'Admission reviews answered, by decision (injected, skipped, denied, error) and reason (skip reason or error code).',
    labelNames: ['decision', 'reason'] as const,
    registers: [registry],
    collect: flush,
  });
  const admissionProblems = new Counter({
    name: `${PREFIX}admission_problems_total`,
    help: 'Problems found in admissions that were denied, or skipped under policy optional, by decision and problem code (EI_ERR_*).',
    labelNames: ['decision', 'code'] as const,
    registers: [registry],
    collect: flush,
  });
  const admissionDuration = new Histogram({
    name: `${PREFIX}admission_duration_seconds`,
    help: "Time from the request's headers to the answer, by decision.",
    labelNames: ['decision'] as const,
    // The API server's default webhook timeout is 10 s; the interesting range is well under 10 ms.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
    collect: flush,
  });
  const injections = new Counter({
    name: `${PREFIX}injections_total`,
    help: 'Exporter sidecars injected, by template.',
    labelNames: ['template'] as const,
    registers: [registry],
    collect: flush,
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

  const pending = new PendingAdmissions((outcome, seconds) => {
    const first = outcome.problems[0];
    const reason = outcome.decision === 'denied' && first ? first.code : outcome.reason;
    admissions.inc({ decision: outcome.decision, reason });
    admissionDuration.observe({ decision: outcome.decision }, seconds);
    for (const problem of outcome.problems) admissionProblems.inc({ decision: outcome.decision, code: problem.code });
    if (outcome.decision !== 'injected') return;
    for (const template of outcome.templates) injections.inc({ template });
  });

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
    recordOutcome: (outcome, seconds) => pending.add(outcome, seconds),
    recordError: (code, seconds) => pending.add({ decision: 'error', reason: code, problems: [], templates: [] }, seconds),
  };
}

/** The part of an Outcome the metrics read; errors are recorded in the same shape. */
type Recorded = Pick<Outcome, 'problems' | 'templates'> & { readonly decision: Outcome['decision'] | 'error'; readonly reason: string };

/**
 * Admissions recorded on the request path and handed to prom-client in batches: when BATCH are
 * waiting, and whenever an admission metric is read. prom-client checks and hashes the labels on
 * every call, which costs several times more spread over the requests than a thousand at a time:
 * still 6% of the CPU per small admission with the turn batch (turn-batch.ts) grouping each
 * turn's admissions (docs/performance.md). At most BATCH outcomes are held, until the batch fills
 * or the next scrape.
 */
class PendingAdmissions {
  static readonly BATCH = 1024;
  readonly #outcomes: Recorded[] = [];
  readonly #seconds = new Float64Array(PendingAdmissions.BATCH);

  constructor(private readonly record: (outcome: Recorded, seconds: number) => void) {}

  add(outcome: Recorded, seconds: number): void {
    this.#seconds[this.#outcomes.length] = seconds;
    if (this.#outcomes.push(outcome) === PendingAdmissions.BATCH) this.flush();
  }

  flush(): void {
    const outcomes = this.#outcomes;
    for (let i = 0; i < outcomes.length; i += 1) this.record(outcomes[i]!, this.#seconds[i]!);
    outcomes.length = 0;
  }
}
