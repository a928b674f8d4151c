// The JSON logger shared by both servers. Requests carry whole Pods (env values, command lines,
// sometimes credentials), so anything body-shaped is redacted even though no log call passes it.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config/serve-config.js';

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

/** docs/operations.md tells operators how late a line may appear. */
const LOG_BATCH_BYTES = 4096;
const LOG_FLUSH_MS = 1000;

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  // Buffered, to stdout: lines are written in batches of about 4 KiB, and at least once a second,
  // so a busy webhook does not pay a system call per admission. One stream keeps the lines in
  // order; serve flushes it before exiting, and pino flushes it synchronously when the process
  // exits (an uncaught error included). A SIGKILL (the OOM killer) loses at most the last second.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }));
}
