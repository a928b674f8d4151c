// The JSON logger shared by both servers. Requests carry whole Pods (env values, command lines,
// sometimes credentials), so anything body-shaped is redacted even though no log call passes it.
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

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  return pino(options, destination ?? (level === 'silent' ? { write: () => undefined } : new BatchedLogSink()));
}
