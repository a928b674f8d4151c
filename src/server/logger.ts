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

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  // Synchronous to stdout: lines stay in order and none is lost when the process exits on a
  // signal; one short write per admission costs little next to the TLS work around it.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
