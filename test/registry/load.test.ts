// Loading: broken files report their specific problems (all at once), a user directory adds and
// overrides, and the result cannot be changed afterwards.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { isInjectorError } from '../../src/errors.js';
import { BUILTIN_DIR, loadRegistry } from '../../src/registry/load.js';
import { canonicalJson, parseTemplate, readTemplateDir, templateHash } from '../../src/registry/validate.js';

const BAD_DIR = fileURLToPath(new URL('../testdata/registry/bad/', import.meta.url));
const USER_DIR = fileURLToPath(new URL('../testdata/registry/user/', import.meta.url));

/** Each broken file, how many problems it must report, and what they must say. */
const BAD: Record<string, { count: number; say: string[] }> = {
  'unknown-field.yaml': { count: 2, say: [':5: imgae: unknown field "imgae"; did you mean "image"?', 'missing required field "image"'] },
  'port-name-too-long.yaml': { count: 1, say: ['portName: "port-name-metrics" must be a port name of at most 15 characters'] },
  'default-port-name-too-long.yaml': { count: 1, say: ['missing field "portName": the default "postgresql-metrics" is longer than 15 characters'] },
  'generic-param.yaml': { count: 1, say: ['params[0].name: "port" is a generic parameter'] },
  'target-not-used.yaml': { count: 1, say: ['target.format: is "url" but no arg or env value uses "{target}"'] },
  'target-none-but-used.yaml': { count: 1, say: ['target.format: is "none" but an arg or env value uses "{target}"'] },
  'image-unpinned.yaml': { count: 1, say: ['image: "example.com/exporter" must be pinned with a tag or digest'] },
  'image-syntax.yaml': { count: 1, say: ['is not a valid image reference'] },
  'bad-quantity.yaml': { count: 1, say: ['resources.limits.memory: "64MB" is not a Kubernetes quantity'] },
  'limit-below-request.yaml': { count: 1, say: ['resources.limits.memory: must be at least requests.memory'] },
  'root-user.yaml': { count: 1, say: ['securityContext.runAsUser: 0 must be a non-root UID'] },
  'bad-pattern.yaml': { count: 1, say: ['params[0].pattern: does not compile'] },
  'arg-without-value.yaml': { count: 1, say: ['params[0].arg: "--verbose" must contain "{value}"'] },
  'configmap-without-mountpath.yaml': { count: 1, say: ['params[0]: kind "configMap" needs a "mountPath"'] },
  'env-without-env.yaml': { count: 1, say: ['params[0]: kind "env" needs an "env"'] },
  'bad-container-name.yaml': { count: 1, say: ['containerName: "Bad_Name" must be a DNS label'] },
  'port-out-of-range.yaml': { count: 1, say: [':6: port: must be <= 65535'] },
  'port-wrong-type.yaml': { count: 1, say: ['port: must be an integer'] },
  'duplicate-param.yaml': { count: 1, say: ['params[1].name: parameter "level" is already declared by params[0]'] },
  'unknown-placeholder.yaml': { count: 1, say: ['args[0]: unknown placeholder "{prot}"'] },
  'bad-target-default.yaml': { count: 1, say: ['target.default: "localhost:8080" must be an absolute URL'] },
  'yaml-syntax.yaml': { count: 1, say: ['yaml-syntax.yaml:4:'] },
  'two-documents.yaml': { count: 1, say: ['has 2 YAML documents; put one template in each file'] },
  'empty.yaml': { count: 1, say: ['the file is empty'] },
  'secret-files-mistakes.yaml': {
    count: 8,
    say: [
      'listens[0]: port 9999/TCP is listed twice (or is the metrics port)',
      'params[0].pattern: is not used by kind "secretFiles" (it reads: mountPath, files, args)',
      'params[0].files[0].key: "ca crt" must be a Secret key',
      'params[0].files[0].path: "/abs/ca.crt" must be a relative file name under mountPath',
      'params[0].files[1].path: "../up.key" must be a relative file name',
      'params[0].args[0]: must not contain "{value}" for kind "secretFiles"',
      'params[1]: kind "secretFiles" needs "files"',
      'params[1].mountPath: mount path "/etc/tls" is already used by params[0].mountPath',
    ],
  },
  'alias-bomb.yaml': { count: 1, say: ['Excessive alias count'] },
  'several-mistakes.yaml': {
    count: 12,
    say: [
      'name: "Several_Mistakes" must be a DNS label',
      'version: "1.0" must be a semantic version',
      'image: "example.com/exporter" must be pinned',
      'port: must be >= 1',
      'path: "metrics" must be an absolute URL path',
      'scheme: must be one of: http, https',
      'target.default: "not-a-hostport" must be host:port',
      'target.format: is "hostport" but no arg or env value uses "{target}"',
      'resources.requests.cpu: "ten" is not a Kubernetes quantity',
      'securityContext.runAsUser: 0 must be a non-root UID',
      'securityContext.readOnlyRootFilesystem: must be a boolean',
      'probes.liveness.periodSeconds: must be >= 1',
    ],
  },
};

describe('broken templates', () => {
  it('has an expectation for every file under testdata/registry/bad (and a file for every expectation)', async () => {
    assert.deepEqual((await readdir(BAD_DIR)).sort(), Object.keys(BAD).sort());
  });

  for (const [file, want] of Object.entries(BAD)) {
    it(`${file} reports its specific problem`, async () => {
      const origin = join(BAD_DIR, file);
      const r = parseTemplate(await readFile(origin, 'utf8'), origin);
      assert.equal(r.template, undefined);
      assert.equal(r.problems.length, want.count, `problems:\n${r.problems.join('\n')}`);
      for (const text of want.say) {
        assert.ok(r.problems.some((p) => p.includes(text)), `no problem says ${JSON.stringify(text)}; got:\n${r.problems.join('\n')}`);
      }
      for (const p of r.problems) assert.ok(p.startsWith(`${origin}`), `problem does not name its file: ${p}`);
    });
  }

  it('reports every problem of every file at once when loading the directory', async () => {
    const total = Object.values(BAD).reduce((n, b) => n + b.count, 0);
    await assert.rejects(loadRegistry(BAD_DIR), (e: unknown) => {
      assert.ok(isInjectorError(e, 'EI_ERR_REGISTRY_INVALID'));
      assert.equal(e.details.length, total);
      assert.equal(e.message, `${total} problems in templates directory ${BAD_DIR}`);
      for (const file of Object.keys(BAD)) assert.ok(e.details.some((d) => d.startsWith(join(BAD_DIR, file))), `nothing reported for ${file}`);
      return true;
    });
  });
});

describe('user templates', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ei-registry-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('adds new templates and overrides built-ins by name', async () => {
    const builtin = await loadRegistry();
    const r = await loadRegistry(USER_DIR);
    assert.equal(r.templates.size, builtin.templates.size + 1);
    const redis = r.templates.get('redis');
    assert.equal(redis?.image, 'registry.example.com/mirror/redis_exporter:v1.88.0');
    assert.equal(redis?.port, 9200);
    assert.notEqual(redis?.hash, builtin.templates.get('redis')?.hash);
    const custom = r.templates.get('custom');
    assert.equal(custom?.containerName, 'custom-exporter');
    assert.equal(custom?.portName, 'custom-metrics');
    // Built-ins the directory does not mention are unchanged.
    assert.equal(r.templates.get('postgres')?.hash, builtin.templates.get('postgres')?.hash);
  });

  it('reads a mounted ConfigMap: follows key symlinks, skips the ..data directories and other dot entries', async () => {
    const dir = join(tmp, 'configmap');
    const stamp = join(dir, '..2026_01_01_00_00_00.000000001');
    await mkdir(stamp, { recursive: true });
    await writeFile(join(stamp, 'custom.yaml'), await readFile(join(USER_DIR, 'custom.yaml'), 'utf8'));
    await symlink('..2026_01_01_00_00_00.000000001', join(dir, '..data'));
    await symlink('..data/custom.yaml', join(dir, 'custom.yaml'));
    await writeFile(join(dir, '.hidden.yaml'), 'not: [a template');
    await writeFile(join(dir, 'README.md'), '# not a template\n');
    const set = await readTemplateDir(dir);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.templates.map((t) => t.name), ['custom']);
  });

  it('accepts JSON and .yml files', async () => {
    const dir = join(tmp, 'formats');
    await mkdir(dir);
    const custom = (await readTemplateDir(USER_DIR)).templates.find((t) => t.name === 'custom');
    assert.ok(custom);
    const { hash: _hash, ...file } = custom;
    await writeFile(join(dir, 'a.json'), JSON.stringify({ ...file, name: 'from-json' }));
    await writeFile(join(dir, 'b.yml'), stringify({ ...file, name: 'from-yml' }));
    const set = await readTemplateDir(dir);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.templates.map((t) => t.name), ['from-json', 'from-yml']);
  });

  it('rejects a name defined twice in one directory, naming both files', async () => {
    const dir = join(tmp, 'twice');
    await mkdir(dir);
    const text = await readFile(join(USER_DIR, 'custom.yaml'), 'utf8');
    await writeFile(join(dir, 'a.yaml'), text);
    await writeFile(join(dir, 'b.yaml'), text);
    await assert.rejects(loadRegistry(dir), (e: unknown) => {
      assert.ok(isInjectorError(e, 'EI_ERR_REGISTRY_INVALID'));
      assert.deepEqual(e.details, [`${join(dir, 'b.yaml')}: name: template "custom" is also defined in ${join(dir, 'a.yaml')}; each name may appear once in a directory`]);
      return true;
    });
  });

  it('reports a missing directory', async () => {
    const dir = join(tmp, 'does-not-exist');
    await assert.rejects(loadRegistry(dir), (e: unknown) => isInjectorError(e, 'EI_ERR_REGISTRY_INVALID') && e.details[0]?.startsWith(`${dir}: cannot read the templates directory`) === true);
  });
});

describe('the loaded registry', () => {
  it('is deeply frozen', async () => {
    const r = await loadRegistry();
    const redis = r.templates.get('redis');
    assert.ok(redis);
    assert.ok(Object.isFrozen(r));
    assert.ok(Object.isFrozen(redis) && Object.isFrozen(redis.args) && Object.isFrozen(redis.securityContext) && Object.isFrozen(redis.credentials[0]));
    assert.throws(() => {
      (redis as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (redis.args as string[]).push('--evil');
    }, TypeError);
    const map = r.templates as Map<string, unknown>;
    assert.throws(() => map.set('evil', {}), TypeError);
    assert.throws(() => map.delete('redis'), TypeError);
    assert.throws(() => map.clear(), TypeError);
    assert.equal(r.templates.size, (await loadRegistry()).templates.size);
  });

  it('fills the defaults and hashes the resolved template', async () => {
    const r = await loadRegistry();
    const nginx = r.templates.get('nginx');
    assert.ok(nginx);
    assert.equal(nginx.containerName, 'nginx-exporter');
    assert.equal(nginx.portName, 'nginx-metrics');
    assert.equal(nginx.scheme, 'http');
    assert.deepEqual([nginx.env, nginx.credentials, nginx.params, nginx.probes, nginx.requires], [[], [], [], {}, {}]);
    assert.match(nginx.hash, /^sha256:[0-9a-f]{16}$/);
    const { hash, ...rest } = nginx;
    assert.equal(templateHash(rest), hash);
  });

  it('hashes canonically: key order does not matter, content does', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
    const text = (port: number, flip: boolean): string =>
      [
        flip ? 'version: 1.0.0\nname: h' : 'name: h\nversion: 1.0.0',
        'description: d\nsource: s\nimage: example.com/h:v1',
        `port: ${port}`,
        'path: /metrics\ntarget: {format: none, default: ""}\nargs: ["--port={port}"]',
        'resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 64Mi}}',
        'securityContext: {runAsUser: 65534, readOnlyRootFilesystem: true}',
      ].join('\n');
    const a = parseTemplate(text(9000, false), 'a').template;
    const b = parseTemplate(text(9000, true), 'b').template;
    const c = parseTemplate(text(9001, false), 'c').template;
    assert.ok(a && b && c);
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
  });

  it('resolves the built-in directory relative to the module', () => {
    assert.equal(BUILTIN_DIR, fileURLToPath(new URL('../../src/registry/templates/', import.meta.url)));
  });
});
