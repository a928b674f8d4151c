// 100,000 generated reviews (test/helpers/review-fuzz.ts) through the real `serve` over TLS on
// keep-alive connections: no crash, no hang, every answer well-formed (an AdmissionReview with
// the request's uid, identical to admit()'s answer in this process, whose patch applies and
// validates; or a 4xx JSON error with an EI_ERR_* code), and a known-good review answered
// identically throughout (a polluted prototype in the server would change it).
// STRESS_FUZZ_BODIES and FUZZ_SEED override the size and the seed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import type { Registry } from '../../src/core/types.js';
import { isInjectorError } from '../../src/errors.js';
import { loadRegistry } from '../../src/registry/load.js';
import { ApiServerStandIn, podReview } from '../helpers/api-server-standin.js';
import { answerProblems, fuzzSeed, prototypeKeys, ReviewFuzzer } from '../helpers/review-fuzz.js';
import { optedInPod } from '../server/fixtures.js';
import { startServeProcess, type ServeProcess } from './serve-process.js';

const BODIES = Number(process.env.STRESS_FUZZ_BODIES ?? 100_000);
const CONCURRENCY = 8;

describe(`${BODIES} generated reviews through serve over TLS`, () => {
  let serve: ServeProcess;
  let registry: Registry;
  let standIn: ApiServerStandIn;
  before(async () => {
    registry = await loadRegistry();
    // warn: the admission lines of 100,000 reviews would only cost both processes time here.
    serve = await startServeProcess(['--log-level', 'warn']);
    standIn = new ApiServerStandIn({ port: serve.httpsPort, caCert: serve.caCert, maxSockets: CONCURRENCY });
  });
  after(async () => {
    standIn?.close();
    await serve?.stop();
  });

  it('answers every one well-formed, as admit() does, and stays unpolluted', { timeout: 3600_000 }, async () => {
    const seed = fuzzSeed();
    const fuzzer = new ReviewFuzzer(seed, registry);
    const prototypesBefore = prototypeKeys();
    const known = podReview(optedInPod(), { uid: 'known-good' });
    const knownBody = JSON.stringify(known.review);
    const knownAnswer = (await standIn.send(knownBody)).body;
    assert.equal((JSON.parse(knownAnswer) as { response: { uid: string } }).response.uid, 'known-good');

    const failures: string[] = [];
    const statuses: Record<string, number> = {};
    const count = (key: string) => void (statuses[key] = (statuses[key] ?? 0) + 1);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < BODIES && failures.length < 20) {
        const i = next++;
        const fuzzCase = fuzzer.next();
        const where = `body ${i} (${fuzzCase.what}), FUZZ_SEED=${seed}`;
        try {
          if (i % 10_000 === 0) {
            const again = await standIn.send(knownBody);
            if (again.body !== knownAnswer) failures.push(`${where}: the known-good review is answered differently now: ${again.body.slice(0, 300)}`);
          }
          const answer = await standIn.send(fuzzCase.body);
          count(String(answer.status));
          const problem = judge(fuzzCase.body, fuzzCase.what, answer.status, answer.body, registry);
          if (problem !== undefined) failures.push(`${where}: ${problem}\n  body: ${fuzzCase.body.slice(0, 400)}`);
        } catch (e) {
          failures.push(`${where}: ${(e as Error).message}`);
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ fuzzOverTls: { seed, bodies: next, seconds: Math.round(seconds), perSecond: Math.round(next / seconds), statuses, failures: failures.length } }));

    assert.deepEqual(failures, []);
    assert.equal(next, BODIES);
    assert.ok(serve.alive(), `serve exited:\n${serve.output()}`);
    assert.equal((await standIn.send(knownBody)).body, knownAnswer, 'the known-good review is answered as at the start');
    assert.equal(prototypeKeys(), prototypesBefore, 'the test process prototypes changed');
  });
});

/** Why an answer is wrong, or undefined. */
function judge(body: string, what: string, status: number, text: string, registry: Registry): string | undefined {
  let parsed: unknown;
  let expected: { review?: unknown; code?: string } | undefined;
  try {
    parsed = JSON.parse(body);
    try {
      expected = { review: admit(parsed, registry, DEFAULT_CORE_SETTINGS).review };
    } catch (e) {
      if (!isInjectorError(e)) return `admit() itself threw ${(e as Error).stack}`;
      expected = { code: e.code };
    }
  } catch {
    expected = undefined; // not JSON: the server must refuse it
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    return `HTTP ${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (status === 200) {
    if (expected?.review === undefined) return `HTTP 200 for a body admit() refuses (${expected?.code ?? 'not JSON'})`;
    if (!isDeepStrictEqual(answer, expected.review)) return `the answer differs from admit()'s: ${text.slice(0, 300)}`;
    const problems = answerProblems(body, answer, registry);
    return problems.length > 0 ? problems.join('; ') : undefined;
  }
  if (status < 400 || status >= 500) return `HTTP ${status}: ${text.slice(0, 300)}`;
  const code = (answer as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('EI_ERR_')) return `HTTP ${status} without an EI_ERR_* code: ${text.slice(0, 300)}`;
  // A refusal is right only where admit() refuses too, or where the server's JSON parser refuses
  // a body (not JSON, or __proto__ / constructor.prototype keys, which secure-json-parse rejects).
  if (code === 'EI_ERR_HTTP_BODY' && (expected === undefined || /"__proto__":|"constructor":/.test(body))) return undefined;
  if (expected?.code !== undefined) return code === expected.code ? undefined : `HTTP ${status} ${code}, but admit() refuses with ${expected.code}`;
  return `HTTP ${status} ${code} for a review admit() answers (${what})`;
}
