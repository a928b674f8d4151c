// No container engine here: the Dockerfile is checked by reading it against the repository it builds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { imageNodeFlags } from '../../bench/targets.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8');

/** Instructions as [KEYWORD, rest], continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))
  .map((l) => [l.split(/\s+/, 1)[0]!.toUpperCase(), l.slice(l.search(/\s/) + 1).trim()] as const);
const stages = instructions.filter(([k]) => k === 'FROM').map(([, rest]) => rest);
const runtime = instructions.slice(instructions.findLastIndex(([k]) => k === 'FROM'));

describe('Dockerfile', () => {
  it('builds with Node 24 and runs on distroless Node 24, nonroot', () => {
    assert.equal(stages.length, 2);
    assert.match(stages[0]!, /^node:24-bookworm-slim AS build$/);
    assert.match(stages[1]!, /^gcr\.io\/distroless\/nodejs24-debian12:nonroot$/);
  });

  it('the build stage copies only paths that exist, and runs scripts package.json defines', () => {
    const build = instructions.slice(0, instructions.findLastIndex(([k]) => k === 'FROM'));
    const sources = build.filter(([k]) => k === 'COPY').flatMap(([, rest]) => rest.split(/\s+/).slice(0, -1));
    assert.ok(sources.length > 0);
    for (const source of sources) assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: exists in the repository`);
    const runs = build.filter(([k]) => k === 'RUN').map(([, rest]) => rest).join(' && ');
    for (const script of runs.matchAll(/npm run (\S+)/g)) assert.ok(script[1]! in pkg.scripts, `npm run ${script[1]} is a package.json script`);
    assert.match(runs, /npm ci\b/);
    assert.match(runs, /npm prune --omit=dev/);
    // The allow-list must let every copied path into the build context.
    const allowed = dockerignore.split('\n').map((l) => l.trim());
    for (const source of sources) assert.ok(allowed.includes(`!${source}`), `.dockerignore lets ${source} in`);
  });

  it('the entrypoint is the compiled CLI that package.json bin names, from the copied output', () => {
    const entrypoint = runtime.find(([k]) => k === 'ENTRYPOINT')?.[1];
    const argv = JSON.parse(entrypoint ?? '[]') as string[];
    const [node, script] = [argv[0], argv.at(-1)];
    assert.equal(node, '/nodejs/bin/node', 'distroless keeps node at /nodejs/bin/node');
    assert.equal(script, pkg.bin['exporter-injector']);
    // tsc maps <rootDir>/src/cli/main.ts to <outDir>/src/cli/main.js.
    const source = join(ROOT, tsconfig.compilerOptions.rootDir, script!.replace(new RegExp(`^${tsconfig.compilerOptions.outDir}/`), '').replace(/\.js$/, '.ts'));
    assert.ok(existsSync(source), `${script} is built from ${source}`);
    const copied = runtime.filter(([k]) => k === 'COPY').map(([, rest]) => rest.split(/\s+/).at(-1)!.replace(/^\.\//, ''));
    assert.ok(copied.some((dest) => script!.startsWith(`${dest}/`)), `${script} is under a copied folder (${copied.join(', ')})`);
    assert.deepEqual(copied.sort(), ['dist/src', 'node_modules', 'package.json']);
    assert.deepEqual(JSON.parse(runtime.find(([k]) => k === 'CMD')?.[1] ?? '[]'), ['serve']);
  });

  it('passes node flags that node accepts, on its command line and in NODE_OPTIONS, and that npm run bench runs the webhook with', () => {
    const flags = (JSON.parse(runtime.find(([k]) => k === 'ENTRYPOINT')?.[1] ?? '[]') as string[]).slice(1, -1);
    // The young generation's size is the reason for the flags (docs/serve.md); its value lives in the Dockerfile only.
    assert.ok(flags.some((f) => /^--max-semi-space-size=\d+$/.test(f)), `ENTRYPOINT sets --max-semi-space-size: ${flags.join(' ')}`);
    assert.deepEqual(imageNodeFlags(ROOT), flags);
    // An option node does not know ends it with "bad option" and exit code 9, so these runs can fail.
    const onCommandLine = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
    assert.equal(onCommandLine.status, 0, onCommandLine.stderr);
    const inNodeOptions = spawnSync(process.execPath, ['-e', '0'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: flags.join(' ') } });
    assert.equal(inNodeOptions.status, 0, inNodeOptions.stderr);
  });

  it('runs as the numeric non-root user the manifests declare, with no shell form anywhere at run time', () => {
    assert.equal(runtime.find(([k]) => k === 'USER')?.[1], '65532:65532');
    assert.equal(runtime.filter(([k]) => k === 'RUN').length, 0, 'distroless has no shell to RUN with');
    for (const k of ['ENTRYPOINT', 'CMD']) assert.match(runtime.find(([kw]) => kw === k)?.[1] ?? '', /^\[/, `${k} in exec form`);
  });
});

describe('build assets', () => {
  it('npm run build puts every file the compiled code reads through import.meta.url next to it', () => {
    // The build's copy step, run alone (tsc is not needed for it), on a dist/ without the files.
    rmSync(join(ROOT, 'dist/src/registry/builtin-templates.json'), { force: true });
    const copied = spawnSync(process.execPath, [join(ROOT, 'scripts/copy-assets.mjs')], { encoding: 'utf8' });
    assert.equal(copied.status, 0, copied.stderr);
    for (const file of ['src/registry/builtin-templates.json', ...readdirSync(join(ROOT, 'src/registry/templates')).map((f) => `src/registry/templates/${f}`)]) {
      assert.equal(readFileSync(join(ROOT, 'dist', file), 'utf8'), readFileSync(join(ROOT, file), 'utf8'), `dist/${file}`);
    }
  });
});
