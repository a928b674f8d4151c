// The error catalog stays in step with the table in docs/errors.md, so every code a user meets is explained.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERROR_CODES } from '../src/errors.js';

const readme = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

describe('error catalog', () => {
  it('documents every code in the docs/errors.md table', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !readme.includes(`| \`${code}\` |`));
    assert.deepEqual(missing, []);
  });

  it('documents no code that does not exist', () => {
    const documented = [...readme.matchAll(/\| `(EI_ERR_[A-Z_]+)` \|/g)].map((m) => m[1]);
    assert.deepEqual(documented.filter((code) => !(code! in ERROR_CODES)), []);
  });
});
