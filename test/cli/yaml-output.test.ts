// Every YAML the CLI prints must mean to kubectl (YAML 1.1) what it means to us. kubectl itself
// decodes the output here (test/helpers/kubectl-discovery.ts); the golden cases get the same
// treatment in test/golden.test.ts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { main } from '../../src/cli/main.js';
import { toYaml } from '../../src/cli/yaml-output.js';
import { generateCa } from '../../src/tls/generate.js';
import { fakeIo } from '../helpers/fake-io.js';
import { startKubectlDecoder, type KubectlDecoder } from '../helpers/kubectl-discovery.js';

type Json = Record<string, unknown>;
const ROOT = new URL('../..', import.meta.url).pathname;

/** Strings that YAML 1.1 (go-yaml v2, under kubectl) or YAML 1.2 reads as something else when plain. */
const NOT_STRINGS_WHEN_PLAIN = [
  // booleans, every YAML 1.1 spelling
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF'],
  ...['true', 'True', 'TRUE', 'false', 'False', 'FALSE'],
  // nulls
  ...['~', 'null', 'Null', 'NULL', ''],
  // integers: octal, hex, binary (both cases of prefix: Go's ParseInt takes both), underscores, signs
  ...['0777', '0o17', '0O17', '0x1F', '0X1F', '0b101', '0B101', '-0b101', '1_000', '0x_1F', '+12', '-0', '089', '09'],
  // sexagesimal (YAML 1.1), floats, infinities, NaN
  ...['1:20', '190:20:30', '1e3', '1E3', '1.5e+3', '.5', '+.5', '1.', '0.', '.inf', '-.Inf', '+.INF', '.NaN', '.nan'],
  // merge and value keys, timestamps
  ...['<<', '=', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5'],
  // YAML 1.1 line breaks, which YAML 1.2 reads as content
  ...['a\u2028b', 'a\u2029b', 'a\u0085b'],
];
/** Strings that look close but are strings everywhere; printed plain or quoted, they must survive. */
const STRINGS_ANYWAY = ['0o8', '12abc', '25m', '32Mi', '$(VAR)', '$$', 'a: b', '- x', "it's", '"q"', '#c', 'x #c', 'multi\nline', ' lead', 'trail ', 'é ü \u0007 \t', '\ufeffbom'];

/** A ConfigMap holding every case as a value and as a key. */
function trickyConfigMap(): Json {
  const data: Json = {};
  [...NOT_STRINGS_WHEN_PLAIN, ...STRINGS_ANYWAY].forEach((s, i) => {
    data[`v${i}`] = s;
    if (s !== '') data[s] = `key ${i}`;
  });
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tricky', namespace: 'default' }, data };
}

describe('YAML output, decoded by kubectl', () => {
  let kubectl: KubectlDecoder;
  let dir: string;
  before(async () => {
    kubectl = await startKubectlDecoder();
    dir = await mkdtemp(join(tmpdir(), 'ei-yaml-output-'));
  });
  after(async () => {
    await kubectl.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every string a string, in values and keys', async () => {
    const object = trickyConfigMap();
    assert.deepEqual(await kubectl.decode(toYaml(object)), [object]);
    assert.deepEqual(parse(toYaml(object)), object, 'and a YAML 1.2 reader reads the same');
  });

  it('the cases are real: printed as the CLI printed them before (YAML 1.2 plain), kubectl reads these otherwise', async () => {
    // Control for the test above, one ConfigMap per case, all in one kubectl call. The yaml
    // package's YAML 1.2 writer already quotes what YAML 1.2 reads as non-strings ("true", "0777",
    // "1e3", ...); it left these plain, and kubectl read them as booleans and numbers.
    const objects = NOT_STRINGS_WHEN_PLAIN.map((s, i) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}`, namespace: 'default' }, data: { k: s } }));
    const LINE_BREAKS = /[\u2028\u2029\u0085]/;
    const batch = objects.filter((o) => o.data.k !== '<<' && !LINE_BREAKS.test(o.data.k));
    const read = await kubectl.decode(batch.map((o) => stringify(o)).join('---\n'));
    const changed = read.filter((o) => (o.data as Json).k !== objects[Number(String((o.metadata as Json).name).slice(1))]!.data.k);
    assert.deepEqual(
      changed.map((o) => objects[Number(String((o.metadata as Json).name).slice(1))]!.data.k),
      ['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO', 'on', 'On', 'ON', 'off', 'Off', 'OFF', '0O17', '0X1F', '0b101', '0B101', '-0b101', '1_000', '0x_1F'],
    );
    // A plain "<<" key is a merge key, which kubectl refuses outright.
    await assert.rejects(kubectl.decode(stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'm' }, data: { '<<': 'x' } })), /map merge/);
    // YAML 1.1 line breaks written raw: refused, or read as something else.
    for (const o of objects.filter((x) => LINE_BREAKS.test(x.data.k))) {
      const got = await kubectl.decode(stringify(o)).catch(() => undefined);
      assert.notEqual((got?.[0]?.data as Json | undefined)?.k, o.data.k, JSON.stringify(o.data.k));
    }
  });

  it('inject -o yaml keeps a Deployment pod template’s "yes", "on", "~", "0777", y/n args and "1e3" env values strings', async () => {
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'flags', labels: { enabled: 'yes' } },
      spec: {
        selector: { matchLabels: { app: 'flags' } },
        template: {
          metadata: {
            labels: { app: 'flags', enabled: 'yes' },
            annotations: { 'exporter-injector.io/inject': 'redis', 'example.com/flag': 'on', 'example.com/no': 'NO', 'example.com/nothing': '~', 'example.com/mode': '0777', 'example.com/time': '1:20' },
          },
          spec: {
            containers: [
              { name: 'app', image: 'redis:7.2', args: ['y', 'n', 'off'], env: [{ name: 'SCALE', value: '1e3' }, { name: 'LIMIT', value: '.inf' }] },
            ],
          },
        },
      },
    };
    const file = join(dir, 'flags.json');
    await writeFile(file, JSON.stringify(manifest));
    const cli = fakeIo();
    assert.equal(await main(['inject', '-f', file], cli.io), 0, cli.stderr());
    const [deployment] = (await kubectl.decode(cli.stdout())) as [Json];
    const template = (deployment.spec as Json).template as { metadata: { labels: Json; annotations: Json }; spec: { containers: Json[] } };
    assert.equal((deployment.metadata as { labels: Json }).labels.enabled, 'yes');
    assert.equal(template.metadata.labels.enabled, 'yes');
    assert.deepEqual(
      ['example.com/flag', 'example.com/no', 'example.com/nothing', 'example.com/mode', 'example.com/time'].map((k) => template.metadata.annotations[k]),
      ['on', 'NO', '~', '0777', '1:20'],
    );
    const app = template.spec.containers.find((c) => c.name === 'app')!;
    assert.deepEqual(app.args, ['y', 'n', 'off']);
    assert.deepEqual(app.env, [{ name: 'SCALE', value: '1e3' }, { name: 'LIMIT', value: '.inf' }]);
    assert.ok(template.spec.containers.length + ((template.spec as { initContainers?: unknown[] }).initContainers?.length ?? 0) === 2, 'the exporter was added');
  });

  it('register --dry-run -o yaml and -o json decode to the same object, for names YAML 1.1 reads as booleans', async () => {
    const ca = generateCa({ days: 1 });
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, ca.cert);
    const flags = ['register', '--dry-run', '--namespace', 'on', '--service', 'y', '--path', '/off', '--ca-file', caFile, '--label-gate'];
    const yaml = fakeIo();
    const json = fakeIo();
    assert.equal(await main([...flags, '-o', 'yaml'], yaml.io), 0, yaml.stderr());
    assert.equal(await main([...flags, '-o', 'json'], json.io), 0, json.stderr());
    // -o json prints a v1 List of the admission objects; -o yaml the same objects, one document each.
    const list = JSON.parse(json.stdout()) as Json;
    const meant = list.items as Json[];
    const service = ((meant[0]!.webhooks as Json[])[0]!.clientConfig as { service: Json }).service;
    assert.deepEqual([service.namespace, service.name], ['on', 'y'], 'the flags reached the objects');
    assert.equal(meant.length, 3, 'the configuration, the policy and its binding');
    // kubectl decodes a List into its items.
    assert.deepEqual(await kubectl.decode(`${yaml.stdout()}---\n${json.stdout()}`), [...meant, ...meant]);
  });

  it('certs --secret prints a Secret kubectl decodes as printed, in a namespace named "yes"', async () => {
    const cli = fakeIo();
    assert.equal(await main(['certs', '--secret', '--namespace', 'yes', '--service', 'no', '--secret-name', 'on'], cli.io), 0, cli.stderr());
    const meant = parse(cli.stdout(), { version: '1.2' }) as Json;
    assert.deepEqual([(meant.metadata as Json).namespace, (meant.metadata as Json).name], ['yes', 'on']);
    assert.deepEqual(await kubectl.decode(cli.stdout()), [meant]);
  });

  it('templates show -o yaml reads, as YAML 1.1, as the same template as -o json (built-ins, and a template named "yes")', async () => {
    const templates = join(dir, 'templates');
    await mkdir(templates);
    const redis = parse(await readFile(join(ROOT, 'src/registry/templates/redis.yaml'), 'utf8')) as Json;
    await writeFile(join(templates, 'yes.yaml'), toYaml({ ...redis, name: 'yes', description: 'off', source: '0777' }));
    const list = fakeIo();
    assert.equal(await main(['templates', 'list', '--templates', templates, '-o', 'json'], list.io), 0, list.stderr());
    const names = (JSON.parse(list.stdout()) as { name: string }[]).map((t) => t.name);
    assert.ok(names.includes('yes') && names.length >= 20, names.join(' '));
    for (const name of names) {
      const yaml = fakeIo();
      const json = fakeIo();
      await main(['templates', 'show', name, '--templates', templates, '-o', 'yaml'], yaml.io);
      await main(['templates', 'show', name, '--templates', templates, '-o', 'json'], json.io);
      assert.deepEqual(parse(yaml.stdout(), { version: '1.1' }), JSON.parse(json.stdout()), name);
    }
  });
});

describe('one YAML printer', () => {
  it('no source file but src/cli/yaml-output.ts imports the yaml package’s stringify', async () => {
    const offenders: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const entry of await readdir(d, { withFileTypes: true })) {
        const path = join(d, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith('.ts') && !path.endsWith(join('src', 'cli', 'yaml-output.ts'))) {
          const text = await readFile(path, 'utf8');
          if (/import\s*\{[^}]*\bstringify\b[^}]*\}\s*from\s*'yaml'/.test(text) || /\bnew Document\(/.test(text)) offenders.push(relative(ROOT, path));
        }
      }
    };
    await walk(join(ROOT, 'src'));
    assert.deepEqual(offenders, [], 'print YAML through src/cli/yaml-output.ts');
  });
});
