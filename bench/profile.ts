// Summarizes a V8 .cpuprofile (node --cpu-prof; `npm run bench -- --profile DIR` writes one for
// the webhook): self time by package or source file, and the heaviest functions, as shares of the
// busy (non-idle) time. usage: node dist/bench/profile.js FILE.cpuprofile [TOP] [SKIP_SECONDS]
// SKIP_SECONDS drops the samples of the first seconds (start-up, warm-up) to see the steady state.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg, skipArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile.js FILE.cpuprofile [TOP]');
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
const skipMicros = Number(skipArg ?? 0) * 1e6;
let elapsed = 0;
profile.samples.forEach((id, i) => {
  elapsed += profile.timeDeltas[i] ?? 0;
  if (elapsed >= skipMicros) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});

function where(url: string): string {
  if (url === '') return '(native/vm)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/dist\/(src\/.*)$/.exec(url);
  if (src) return src[1]!;
  if (url.startsWith('node:')) return url;
  return url;
}

const groups = new Map<string, number>();
const functions = new Map<string, number>();
let busy = 0;
for (const [id, micros] of self) {
  const node = byId.get(id)!;
  const name = node.callFrame.functionName || '(anonymous)';
  if (name === '(idle)') continue;
  busy += micros;
  const group = ['(garbage collector)', '(program)'].includes(name) ? name : where(node.callFrame.url);
  groups.set(group, (groups.get(group) ?? 0) + micros);
  const fn = `${name} ${where(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
  functions.set(fn, (functions.get(fn) ?? 0) + micros);
}
const pct = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
console.log(`busy ${(busy / 1e6).toFixed(2)} s`);
console.log('\nself time by package / file:');
for (const [g, v] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${g}`);
console.log('\nheaviest functions (self):');
for (const [f, v] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(v)}  ${f}`);
