// `exporter-injector review`: answers an AdmissionReview file exactly as `serve` answers POST /mutate.
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { admit } from '../../core/admit.js';
import { InjectorError } from '../../errors.js';
import { CORE_FLAGS, loadCoreContext } from '../core-context.js';
import { EXIT, readInput, type Command } from '../io.js';

const HELP = `usage: exporter-injector review -f FILE|- [flags]

Prints the AdmissionReview response that serve would send for this AdmissionReview request (JSON or YAML).

flags:
  -f, --filename FILE|-   the AdmissionReview to answer
      --templates DIR     add or override templates from this directory
      --sidecar-mode MODE the cluster's default: native (default) or classic

exit codes: 0 allowed; 1 denied; 2 usage error; 3 the file cannot be read or is not an AdmissionReview
`;

export const review: Command = async (argv, io) => {
  const { values } = parseArgs({
    args: argv,
    options: { filename: { type: 'string', short: 'f' }, help: { type: 'boolean', short: 'h', default: false }, ...CORE_FLAGS },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    io.stdout(HELP);
    return EXIT.OK;
  }
  if (!values.filename) throw new InjectorError('EI_ERR_USAGE', 'review needs -f FILE|- (an AdmissionReview as JSON or YAML)');
  const context = await loadCoreContext(values);
  let body: unknown;
  try {
    body = parse(await readInput(values.filename, io));
  } catch (e) {
    throw new InjectorError('EI_ERR_INPUT_INVALID', `${values.filename}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  let result;
  try {
    result = admit(body, context.registry, context.settings);
  } catch (e) {
    if (e instanceof InjectorError) throw new InjectorError('EI_ERR_INPUT_INVALID', `${values.filename}: ${e.message} (${e.code})`);
    throw e;
  }
  io.stdout(JSON.stringify(result.review, null, 2) + '\n');
  for (const w of result.review.response.warnings ?? []) io.stderr(`Warning: ${w}\n`);
  return result.review.response.allowed ? EXIT.OK : EXIT.FAILED;
};
