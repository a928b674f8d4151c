// Copies the non-TypeScript files the compiled code reads at run time into dist/, next to the
// modules that resolve them through import.meta.url (tsc copies only .ts output).
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** [source directory, file name pattern] relative to the repository root. */
const ASSETS = [['src/registry/templates', /\.(ya?ml|json)$/]];
/** Single files, relative to the repository root. */
const FILES = ['src/registry/builtin-templates.json'];

for (const [dir, pattern] of ASSETS) {
  const from = join(root, dir);
  const to = join(root, 'dist', dir);
  // Start clean so a template deleted from src/ does not live on in dist/.
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true });
  const files = (await readdir(from)).filter((f) => pattern.test(f));
  for (const f of files) await cp(join(from, f), join(to, f));
  console.log(`copied ${files.length} files to ${join('dist', dir)}`);
}
for (const file of FILES) {
  await mkdir(join(root, 'dist', dirname(file)), { recursive: true });
  await cp(join(root, file), join(root, 'dist', file));
  console.log(`copied ${join('dist', file)}`);
}
