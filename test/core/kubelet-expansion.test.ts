// Property: whatever an annotation value holds, the exporter receives it literally after the
// kubelet's $(VAR) expansion, and nothing outside that value changes. Seeded; the seed is printed
// on failure (rerun with PROPERTY_SEED=<seed>).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderExporter } from '../../src/core/render.js';
import type { ExporterTemplate } from '../../src/core/types.js';
import { parseTemplate } from '../../src/registry/validate.js';
import { expandArgs, resolveEnv } from '../conformance/kubelet.js';
import { Rng } from '../helpers/review-fuzz.js';

// A template that uses every place a value can land: {target} in an arg and an env value, an arg
// param, an env param, and `<template>.args`; plus variables a `$(NAME)` in a value could reach.
const TEMPLATE = `
name: probe
version: 1.0.0
description: property-test template
source: test
image: registry.example.com/probe:1.0.0
port: 9400
path: /metrics
target:
  format: dsn
  default: localhost:1
args:
  - --listen=:{port}
  - --target={target}
env:
  - name: HOME_DIR
    value: /home
  - name: TARGET
    value: "{target}"
params:
  - name: flag
    description: any text as a flag value
    kind: arg
    arg: --flag={value}
    pattern: "[\\\\s\\\\S]*"
  - name: variable
    description: any text as an env value
    kind: env
    env: VARIABLE
    pattern: "[\\\\s\\\\S]*"
resources:
  requests: { cpu: 10m, memory: 16Mi }
  limits: { memory: 64Mi }
securityContext:
  runAsUser: 10001
  readOnlyRootFilesystem: true
`;

const PIECES = [
  '$', '$(', '$$', '$$$', ')', '(', '$(HOME_DIR)', '$(TARGET)', '$(VARIABLE)', '$(UNDEFINED)', '$()', '$&', "$'", '$`', '$1', '$<n>',
  '"', "'", '\\', '\n', ' ', '\t', ',', ';', '=', '&', '?', '#', '%', '{port}', '{target}', '{path}', '{value}', '{', '}',
  'a: b', '- x', '---', '{"k": [1, "$(HOME_DIR)"]}', '[1,2]', '*alias', '&anchor', 'é', '日本', '🙂', 'ß', 'localhost:5432', 'x',
];
const NO_SPACE = PIECES.filter((p) => !/\s/.test(p));

function randomValue(next: () => number, pieces: readonly string[]): string {
  const n = 1 + Math.floor(next() * 8);
  let out = '';
  for (let i = 0; i < n; i++) out += pieces[Math.floor(next() * pieces.length)] ?? '';
  return out;
}

describe('annotation values survive the kubelet literally', () => {
  const parsed = parseTemplate(TEMPLATE, 'property-template');
  assert.deepEqual(parsed.problems, []);
  const template = parsed.template as ExporterTemplate;

  it('for several thousand random values (target, arg param, env param, <template>.args)', () => {
    const seed = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rng = new Rng(seed);
    const next = (): number => rng.next();
    const CASES = 3000;
    let accepted = 0;
    for (let i = 0; i < CASES; i++) {
      // Half the values without whitespace, so the target and `args` accept many of them.
      const value = randomValue(next, next() < 0.5 ? NO_SPACE : PIECES);
      const flagValue = randomValue(next, NO_SPACE.filter((p) => !/["'`{}\\]/.test(p)));
      const extra = `--extra=${flagValue}`;
      const params = new Map([
        ['target', value],
        ['flag', value],
        ['variable', value],
        ['args', extra],
      ]);
      const result = renderExporter(template, params, 'native');
      const context = `seed ${seed} (PROPERTY_SEED=${seed}), case ${i}, value ${JSON.stringify(value)}, args ${JSON.stringify(extra)}`;
      if (!result.ok) {
        // Refusing a value is allowed (the target refuses whitespace, `args` anything but flags);
        // the free-text params never refuse.
        assert.ok(result.problems.every((p) => /probe\.(target|args)/.test(p.message)), `${context}: only target and args may be refused: ${result.problems.map((p) => p.message).join('; ')}`);
        continue;
      }
      accepted++;
      const trimmed = value.trim();
      const env = resolveEnv(result.exporter.container, new Map());
      const args = expandArgs(result.exporter.container.args ?? [], env);
      assert.deepEqual(args, ['--listen=:9400', `--target=${trimmed}`, `--flag=${trimmed}`, extra], context);
      assert.deepEqual(
        [...env],
        [
          ['HOME_DIR', '/home'],
          ['TARGET', trimmed],
          ['VARIABLE', trimmed],
        ],
        context,
      );
    }
    assert.ok(accepted >= CASES / 3, `seed ${seed}: only ${accepted} of ${CASES} values were accepted; the property is hardly exercised`);
  });
});
