// `exporter-injector review`: answers an AdmissionReview file exactly as `serve` answers POST /mutate.
import { parse } from 'yaml';
import { admit } from '../../core/admit.js';
import { EXIT, InjectorError, isInjectorError } from '../../errors.js';
import { CORE_FLAGS, loadCoreContext } from '../core-context.js';
import { defineCommand } from '../command.js';
import { inputName, readInput } from '../io.js';

export const review = defineCommand(
  {
    name: 'review',
    summary: 'answer an AdmissionReview exactly as serve would',
    usage: '-f FILE|- [flags]',
    description: 'Prints the AdmissionReview response that serve would send for this AdmissionReview request (JSON or YAML).',
    flags: {
      filename: { type: 'string', short: 'f', value: 'FILE|-', help: 'the AdmissionReview to answer (- for standard input)' },
      ...CORE_FLAGS,
    },
    examples: ['exporter-injector review -f deploy/examples/review-redis.json'],
    exits: { 1: 'the pod is denied', 3: 'the file cannot be read or is not an AdmissionReview' },
  },
  async ({ values }, io) => {
    if (values.filename === undefined) throw new InjectorError('EI_ERR_USAGE', 'review: -f FILE|- is required (an AdmissionReview as JSON or YAML)');
    const file = inputName(values.filename);
    const context = await loadCoreContext(values);
    const text = await readInput(values.filename, io);
    let body: unknown;
    try {
      body = parse(text, { maxAliasCount: 100 });
    } catch (e) {
      throw new InjectorError('EI_ERR_INPUT_INVALID', `${file}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
    let result;
    try {
      result = admit(body, context.registry, context.settings);
    } catch (e) {
      if (isInjectorError(e)) throw new InjectorError(e.code, `${file}: ${e.message} (${e.code})`);
      throw e;
    }
    io.stdout(JSON.stringify(result.review, null, 2) + '\n');
    for (const w of result.review.response.warnings ?? []) io.stderr(`Warning: ${w}\n`);
    return result.review.response.allowed ? EXIT.OK : EXIT.FAILED;
  },
);
