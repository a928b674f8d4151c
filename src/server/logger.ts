// The JSON logger shared by both servers. Requests carry whole Pods (env values, command lines,
// sometimes credentials), so anything body-shaped is redacted even though no log call passes it.
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/serve-config.js';
import { BatchedLogSink } from './log-sink.js';

export const REDACTED_PATHS = [
  'body',
  'req.body',
  'request.object',
  'request.oldObject',
  'object',
  'oldObject',
  'review',
  'req.headers.authorization',
  'req.headers.cookie',
];

/** What a line formed without pino (admission-log.ts) needs to look and land like pino's. */
export interface LogOutput {
  readonly destination: DestinationStream;
  /** The fields every line carries after the time, as JSON members with a leading comma. */
  readonly baseFields: string;
}

const outputs = new WeakMap<Logger, LogOutput>();

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  // pino's own default base, written out so that its text is known here.
  const base = { pid: process.pid, hostname: hostname() };
  const options = {
    level,
    base,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  const stream = destination ?? (level === 'silent' ? { write: () => undefined } : new BatchedLogSink());
  const logger = pino(options, stream);
  outputs.set(logger, { destination: stream, baseFields: `,${JSON.stringify(base).slice(1, -1)}` });
  return logger;
}

/** Where a logger from createLogger writes, and its base fields. */
export function logOutputOf(logger: Logger): LogOutput {
  const output = outputs.get(logger);
  if (output === undefined) throw new Error('this logger was not made by createLogger, so where it writes is unknown');
  return output;
}
