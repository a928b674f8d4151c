// The built-in templates: every one loads, and what a user depends on from each holds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExporterTemplate } from '../../src/core/types.js';
import { loadRegistry } from '../../src/registry/load.js';
import { isPortName } from '../../src/core/values.js';
import { imageProblem, parseQuantity } from '../../src/core/values.js';

const registry = await loadRegistry();
const all = [...registry.templates.values()];
const get = (name: string): ExporterTemplate => {
  const t = registry.templates.get(name);
  assert.ok(t, `built-in template ${name} is missing`);
  return t;
};

const REQUIRED = [
  'redis', 'postgres', 'mysqld', 'memcached', 'nginx', 'apache', 'elasticsearch', 'mongodb', 'pgbouncer', 'statsd',
  'php-fpm', 'json', 'nats', 'consul', 'process', 'uwsgi', 'sql', 'mtail', 'graphite', 'bind', 'dnsmasq',
];

describe('built-in templates', () => {
  it('has at least 20 templates including the required set', () => {
    assert.ok(all.length >= 20, `only ${all.length} built-in templates`);
    for (const name of REQUIRED) get(name);
  });

  it('pins every image to a tag or digest and gives each a source', () => {
    for (const t of all) {
      assert.equal(imageProblem(t.image), undefined, `${t.name}: ${t.image}`);
      // Users have the upstream repositories, not the project's research notes.
      assert.match(t.source, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/(tree|blob)\/[\w.-]+/, `${t.name} must cite its upstream repository at a tag`);
      assert.doesNotMatch(t.source, /exporters\.md|anchors\.md|DESIGN\.md/, `${t.name} cites a file users do not have`);
      assert.equal(t.version, '1.0.0');
    }
  });

  it('names every metrics port within 15 characters and ending in -metrics', () => {
    for (const t of all) {
      assert.ok(isPortName(t.portName), `${t.name}: ${t.portName}`);
      assert.match(t.portName, /-metrics$/, t.name);
    }
  });

  it('passes the Pod Security Standard restricted needs that are template data', () => {
    for (const t of all) {
      const sc = t.securityContext;
      assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser > 0, `${t.name}: runAsUser ${sc.runAsUser} must be a non-root UID`);
      assert.equal(typeof sc.readOnlyRootFilesystem, 'boolean', `${t.name}: readOnlyRootFilesystem must be recorded`);
      // Every built-in runs with a read-only root; mtail gets there with --logtostderr.
      assert.equal(sc.readOnlyRootFilesystem, true, t.name);
      const { requests, limits } = t.resources;
      for (const q of [requests.cpu, requests.memory, limits.memory]) assert.ok((parseQuantity(q) ?? 0) > 0, `${t.name}: ${q}`);
      assert.ok((parseQuantity(limits.memory) ?? 0) >= (parseQuantity(requests.memory) ?? Infinity), t.name);
      // Small sidecars: 10m-100m CPU, at most 128Mi of memory (256Mi for the JVM of jmx).
      assert.ok((parseQuantity(requests.cpu) ?? 1) <= 0.1, `${t.name}: cpu request ${requests.cpu}`);
      const maxMemory = (t.name === 'jmx' ? 256 : 128) * 2 ** 20;
      assert.ok((parseQuantity(limits.memory) ?? Infinity) <= maxMemory, `${t.name}: memory limit ${limits.memory}`);
    }
  });

  it('uses 65534 for images whose USER is root', () => {
    for (const name of ['php-fpm', 'nats', 'process', 'mtail']) assert.equal(get(name).securityContext.runAsUser, 65534, name);
    assert.equal(get('redis').securityContext.runAsUser, 59000);
    assert.equal(get('nginx').securityContext.runAsUser, 1001);
    assert.equal(get('mongodb').securityContext.runAsUser, 65535);
  });

  it('lets the user move every exporter to another port, except apache (no listen flag both its versions accept)', () => {
    for (const t of all.filter((t) => t.name !== 'apache')) {
      const text = [...t.args, ...t.env.map((e) => e.value)].join(' ');
      assert.ok(text.includes('{port}'), `${t.name} never tells the exporter its port`);
    }
  });

  // mysqld and mysqld-cnf are one exporter configured two ways (a pod uses one of them), so they share 9104.
  it('gives distinct default ports, except the upstream apache/uwsgi 9117 clash and the two mysqld templates', () => {
    const byPort = new Map<number, string[]>();
    for (const t of all) byPort.set(t.port, [...(byPort.get(t.port) ?? []), t.name]);
    const shared = [...byPort.values()].filter((names) => names.length > 1);
    assert.deepEqual(shared, [['apache', 'uwsgi'], ['mysqld', 'mysqld-cnf']]);
    assert.equal(get('apache').port, 9117);
  });

  it('declares probes only on exporters with a health endpoint', () => {
    const withProbes = all.filter((t) => Object.keys(t.probes).length > 0).map((t) => t.name).sort();
    assert.deepEqual(withProbes, ['consul', 'elasticsearch', 'jmx', 'redis', 'sql', 'statsd', 'uwsgi', 'varnish']);
    assert.equal(get('jmx').probes.liveness?.path, '/-/healthy');
    assert.equal(get('uwsgi').probes.liveness?.path, '/-/healthy');
    // Served only because the template passes -web.health-path with the same path.
    assert.equal(get('varnish').probes.liveness?.path, '/healthz');
    assert.ok(get('varnish').args.includes('-web.health-path=/healthz'));
    assert.equal(get('redis').probes.liveness?.path, '/health');
    assert.equal(get('elasticsearch').probes.liveness?.path, '/healthz');
    assert.equal(get('statsd').probes.liveness?.path, '/-/healthy');
    assert.equal(get('consul').probes.liveness?.path, '/-/healthy');
    assert.equal(get('sql').probes.liveness?.path, '/healthz');
  });

  it('uses the same Secret key names across templates', () => {
    const keys = new Set(all.flatMap((t) => t.credentials.map((c) => c.key)));
    assert.deepEqual([...keys].sort(), ['api-key', 'password', 'token', 'uri', 'username']);
  });

  it('configures redis from its env credentials and the target flag', () => {
    const t = get('redis');
    assert.ok(t.args.includes('--redis.addr={target}'));
    assert.equal(t.target.default, 'redis://localhost:6379');
    assert.deepEqual(t.credentials, [
      { env: 'REDIS_USER', key: 'username', required: false },
      { env: 'REDIS_PASSWORD', key: 'password', required: false },
    ]);
  });

  it('requires postgres credentials and passes the DSN without them', () => {
    const t = get('postgres');
    assert.deepEqual(t.env, [{ name: 'DATA_SOURCE_URI', value: '{target}' }]);
    assert.deepEqual(t.credentials, [
      { env: 'DATA_SOURCE_USER', key: 'username', required: true },
      { env: 'DATA_SOURCE_PASS', key: 'password', required: true },
    ]);
  });

  it('configures mysqld with the v0.15+ flags, never DATA_SOURCE_NAME', () => {
    const t = get('mysqld');
    assert.ok(t.args.includes('--mysqld.address={target}'));
    // The user comes from the Secret through $(VAR) expansion, the password through its own env var.
    const userArg = t.args.find((a) => a.startsWith('--mysqld.username='));
    assert.equal(userArg, '--mysqld.username=$(MYSQLD_EXPORTER_USER)');
    assert.ok(t.credentials.some((c) => c.env === 'MYSQLD_EXPORTER_USER' && c.key === 'username' && c.required));
    assert.ok(t.credentials.some((c) => c.env === 'MYSQLD_EXPORTER_PASSWORD' && c.key === 'password' && c.required));
    assert.ok(!JSON.stringify(t).includes('DATA_SOURCE_NAME'));
  });

  it('sets --es.uri explicitly for elasticsearch', () => {
    const t = get('elasticsearch');
    assert.ok(t.args.includes('--es.uri={target}'));
    assert.equal(t.target.default, 'http://localhost:9200');
  });

  it('makes process require a shared process namespace, which only the pod can grant', () => {
    assert.deepEqual(get('process').requires, { shareProcessNamespace: true });
    for (const t of all.filter((x) => x.name !== 'process')) assert.deepEqual(t.requires, {}, t.name);
  });

  it('declares the volumes and ConfigMaps the file-driven exporters need', () => {
    const kinds = (name: string): string[] => get(name).params.map((p) => `${p.name}:${p.kind}:${p.required}`);
    assert.deepEqual(kinds('json'), ['config:configMap:true']);
    assert.deepEqual(kinds('sql'), ['config:configMap:true']);
    assert.deepEqual(kinds('mtail'), ['logs:podVolume:true', 'progs:configMap:true']);
    assert.deepEqual(kinds('statsd'), ['mapping:configMap:false']);
    assert.deepEqual(kinds('jmx'), ['config:configMap:true']);
    assert.deepEqual(kinds('varnish'), ['workdir:podVolume:true']);
    assert.ok(get('mtail').args.includes('--logtostderr'), 'mtail must log to stderr to keep the root filesystem read-only');
  });

  it('runs the Kubernetes dnsmasq metrics sidecar on 10054', () => {
    const t = get('dnsmasq');
    assert.equal(t.port, 10054);
    assert.match(t.image, /^registry\.k8s\.io\/dns\/k8s-dns-sidecar:/);
  });

  it('says in every description which metric tells that the exporter lost its server', () => {
    for (const t of all) assert.match(t.description, /Health: \S/, `${t.name}: no "Health:" sentence in the description`);
  });

  it('documents the grants of every template that logs in to a database', () => {
    for (const name of ['mysqld', 'postgres', 'mongodb', 'pgbouncer', 'redis', 'elasticsearch', 'sql']) {
      assert.match(get(name).description, /(Grants|Privileges): /, name);
    }
    // MariaDB 10.5.9 split SHOW SLAVE STATUS out of REPLICATION CLIENT.
    assert.match(get('mysqld').description, /SLAVE MONITOR/);
  });

  it('asks the NATS exporter for /healthz, its only series that turns 0 when the server stops', () => {
    const t = get('nats');
    assert.ok(t.args.includes('-healthz'));
    // Go's flag parsing stops at the first positional argument: the URL stays last.
    assert.equal(t.args.at(-1), '{target}');
  });
});
