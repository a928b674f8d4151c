// Property test of admit() over generated reviews (test/helpers/review-fuzz.ts): it answers or
// refuses with EI_ERR_REVIEW_*, never anything else; every answer is well-formed and its patch
// applies, stays inside the injection and carries exactly the templates' rendering; and no input
// adds anything to the built-in prototypes. FUZZ_SEED=<n> replays a run, FUZZ_CASES=<n> sizes it.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { admit } from '../../src/core/admit.js';
import { DEFAULT_CORE_SETTINGS } from '../../src/core/defaults.js';
import type { Registry } from '../../src/core/types.js';
import { isInjectorError } from '../../src/errors.js';
import { loadRegistry } from '../../src/registry/load.js';
import { answerProblems, fuzzSeed, prototypeKeys, ReviewFuzzer } from '../helpers/review-fuzz.js';

const CASES = Number(process.env.FUZZ_CASES ?? 2000);

let registry: Registry;
before(async () => {
  registry = await loadRegistry();
});

describe('admit() over generated reviews', () => {
  it(`answers ${CASES} generated reviews well or refuses them with EI_ERR_REVIEW_*`, () => {
    const seed = fuzzSeed();
    const fuzzer = new ReviewFuzzer(seed, registry);
    const before = prototypeKeys();
    const failures: string[] = [];
    const tally: Record<string, number> = {};
    const count = (key: string) => void (tally[key] = (tally[key] ?? 0) + 1);
    for (let i = 0; i < CASES && failures.length < 5; i++) {
      const fuzzCase = fuzzer.next();
      let body: unknown;
      try {
        body = JSON.parse(fuzzCase.body);
      } catch {
        count('not JSON (the server answers 400 before admit)');
        continue;
      }
      const where = `case ${i} (${fuzzCase.what}), replay with FUZZ_SEED=${seed}`;
      try {
        const result = admit(body, registry, DEFAULT_CORE_SETTINGS);
        count(result.outcome.decision);
        const problems = answerProblems(fuzzCase.body, result.review, registry);
        if (problems.length > 0) failures.push(`${where}: ${problems.join('; ')}\n  body: ${fuzzCase.body.slice(0, 600)}`);
        if (fuzzCase.kind === 'pod' && fuzzCase.uid !== undefined && result.review.response.uid !== fuzzCase.uid) failures.push(`${where}: uid not echoed`);
      } catch (e) {
        if (isInjectorError(e) && e.code.startsWith('EI_ERR_REVIEW_')) {
          count(e.code);
          continue;
        }
        failures.push(`${where}: threw ${(e as Error)?.stack ?? String(e)}\n  body: ${fuzzCase.body.slice(0, 600)}`);
      }
    }
    assert.equal(prototypeKeys(), before, `the built-in prototypes changed (FUZZ_SEED=${seed})`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, `Object.prototype was polluted (FUZZ_SEED=${seed})`);
    assert.deepEqual(failures, [], `seed ${seed}`);
    // The generator must keep reaching every kind of answer, or the properties above prove little.
    for (const outcome of ['injected', 'skipped', 'denied', 'EI_ERR_REVIEW_INVALID', 'EI_ERR_REVIEW_OBJECT']) {
      assert.ok((tally[outcome] ?? 0) > 0, `no case ended ${outcome} (FUZZ_SEED=${seed}): ${JSON.stringify(tally)}`);
    }
    console.log(`FUZZ_SEED=${seed}: ${JSON.stringify(tally)}`);
  });
});
