// The one log line per admission, most of the log's volume. pino's general formatter (a walk over
// any object's keys, its own string escaping, a safe stringify for arrays) cost 3-7% of the
// webhook's CPU per admission for this line alone (docs/performance.md), so its fields, always the
// same ones, are written here straight to the logger's destination. The text is what pino writes for
// the same fields at the same time, byte for byte (test/server/admission-log.test.ts compares them),
// so a reader of the log cannot tell the two apart; every other line is pino's.
import type { Logger } from 'pino';
import type { Decision, Outcome } from '../core/types.js';
import type { ErrorCode } from '../errors.js';
import { logOutputOf } from './logger.js';

export type AdmissionLogLevel = 'info' | 'debug';

export interface AdmissionLogFields {
  readonly uid: string;
  readonly namespace: string | undefined;
  readonly pod: string | undefined;
  readonly decision: Decision;
  readonly reason: Outcome['reason'];
  readonly templates: readonly string[];
  /** Problem codes only: their messages quote annotation values, which may carry credentials. */
  readonly problems: readonly ErrorCode[];
  readonly warnings: number;
  readonly patchOperations: number;
  readonly durationMs: number;
  readonly dryRun: boolean;
}

/**
 * The decision, the reason and the problem codes are names from closed sets, written without
 * escaping; this fails to compile if one of those names would need it.
 */
type Escaped = `${string}${'"' | '\\'}${string}`;
const closedSetsNeedNoEscaping: [Extract<Decision | Outcome['reason'] | ErrorCode, Escaped>] extends [never] ? true : never = true;

/**
 * Whether the string holds only characters JSON never escapes, enough for uids, namespaces, pod
 * and template names: letters, digits and `_ * - . / :`. A loop: in the server, between the TLS
 * and HTTP work, it costs less than a regular expression, which is less than JSON.stringify.
 */
function isPlain(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    // - . / 0-9 : are 45 to 58.
    if (!((c >= 45 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 42)) return false;
  }
  return true;
}

/** A string as JSON text: as it is when plain. */
const jsonString = (text: string): string => (isPlain(text) ? `"${text}"` : JSON.stringify(text));

function jsonStrings(texts: readonly string[]): string {
  let json = '[';
  for (let i = 0; i < texts.length; i += 1) json += (i === 0 ? '' : ',') + jsonString(texts[i]!);
  return `${json}]`;
}

export class AdmissionLog {
  readonly #logger: Logger;
  readonly #destination: { write(line: string): unknown };
  /** The logger's base fields (pid, hostname), as pino places them after the time. */
  readonly #baseFields: string;

  constructor(logger: Logger) {
    this.#logger = logger;
    ({ destination: this.#destination, baseFields: this.#baseFields } = logOutputOf(logger));
  }

  /** Whether a line at this level would be written: check before building the fields. */
  enabled(level: AdmissionLogLevel): boolean {
    return this.#logger.isLevelEnabled(level);
  }

  write(level: AdmissionLogLevel, f: AdmissionLogFields): void {
    // pino leaves out a field whose value is undefined; the two optional ones are the only ones.
    const namespace = f.namespace === undefined ? '' : `,"namespace":${jsonString(f.namespace)}`;
    const pod = f.pod === undefined ? '' : `,"pod":${jsonString(f.pod)}`;
    this.#destination.write(
      `{"level":${this.#logger.levels.values[level]},"time":${Date.now()}${this.#baseFields},"uid":${jsonString(f.uid)}${namespace}${pod}` +
        `,"decision":"${f.decision}","reason":"${f.reason}","templates":${jsonStrings(f.templates)}` +
        `,"problems":${f.problems.length === 0 ? '[]' : `["${f.problems.join('","')}"]`},"warnings":${f.warnings},"patchOperations":${f.patchOperations}` +
        `,"durationMs":${f.durationMs},"dryRun":${f.dryRun},"msg":"admission"}\n`,
    );
  }
}
