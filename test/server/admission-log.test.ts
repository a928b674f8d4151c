// The admission line is written without pino, so it is checked against pino itself: the same fields
// logged through pino at the same instant must give the same bytes.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { pino } from 'pino';
import { AdmissionLog, type AdmissionLogFields, type AdmissionLogLevel } from '../../src/server/admission-log.js';
import { createLogger, logOutputOf } from '../../src/server/logger.js';
import { logCapture } from './fixtures.js';

const INJECTED: AdmissionLogFields = {
  uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
  namespace: 'shop',
  pod: 'cache-7d9c6b5f4-*',
  decision: 'injected',
  reason: 'injected',
  templates: ['redis'],
  problems: [],
  warnings: 0,
  patchOperations: 8,
  durationMs: 0.123,
  dryRun: false,
};

const CASES: Record<string, { level: AdmissionLogLevel; fields: AdmissionLogFields }> = {
  'an injection': { level: 'info', fields: INJECTED },
  'a review without a namespace or a pod name': { level: 'info', fields: { ...INJECTED, namespace: undefined, pod: undefined } },
  'a denial with problems, two templates, warnings, dry run': {
    level: 'info',
    fields: { ...INJECTED, decision: 'denied', reason: 'denied', templates: ['redis', 'postgres'], problems: ['EI_ERR_PARAM_INVALID', 'EI_ERR_CLASH_PORT'], warnings: 2, patchOperations: 0, durationMs: 12.5, dryRun: true },
  },
  'a skip at debug': { level: 'debug', fields: { ...INJECTED, decision: 'skipped', reason: 'not-opted-in', templates: [], durationMs: 0 } },
  'names that need escaping': {
    level: 'info',
    fields: { ...INJECTED, uid: 'a"b\\c\nd\u0001e\u007f', namespace: 'é中文🙂', pod: `${'x'.repeat(60)}"quoted"`, templates: ['redis', 'we"ird', 'tab\there'] },
  },
};

function bothWays(level: AdmissionLogLevel, fields: AdmissionLogFields): { pino: string; ours: string } {
  const logs = logCapture();
  const logger = createLogger('debug', logs.stream);
  logger[level](fields, 'admission');
  const pinoText = logs.text();
  new AdmissionLog(logger).write(level, fields);
  return { pino: pinoText, ours: logs.text().slice(pinoText.length) };
}

describe('the admission log line', () => {
  for (const [name, { level, fields }] of Object.entries(CASES)) {
    it(`is the line pino writes for ${name}`, () => {
      mock.timers.enable({ apis: ['Date'], now: 1_796_000_000_123 });
      try {
        const lines = bothWays(level, fields);
        assert.equal(lines.ours, lines.pino);
      } finally {
        mock.timers.reset();
      }
    });
  }

  it('escapes a lone surrogate, which pino would write raw (a review sent by hand could carry one)', () => {
    const logs = logCapture();
    new AdmissionLog(createLogger('info', logs.stream)).write('info', { ...INJECTED, pod: 'bad\ud800name' });
    assert.match(logs.text(), /"pod":"bad\\ud800name"/);
    assert.equal(logs.lines()[0]!.pod, 'bad\ud800name');
  });

  it('goes to the same destination as the logger’s other lines, in order', () => {
    const logs = logCapture();
    const logger = createLogger('info', logs.stream);
    const admissions = new AdmissionLog(logger);
    logger.info('before');
    admissions.write('info', INJECTED);
    logger.info('after');
    assert.deepEqual(
      logs.lines().map((l) => l.msg),
      ['before', 'admission', 'after'],
    );
  });

  it('follows the logger’s level', () => {
    const admissions = new AdmissionLog(createLogger('info', logCapture().stream));
    assert.equal(admissions.enabled('info'), true);
    assert.equal(admissions.enabled('debug'), false);
    assert.equal(new AdmissionLog(createLogger('silent')).enabled('info'), false);
  });

  it('refuses a logger whose destination it cannot know', () => {
    assert.throws(() => logOutputOf(pino({ level: 'silent' })), /not made by createLogger/);
  });
});
