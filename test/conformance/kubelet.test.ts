// The conformance harness stands in for the kubelet; if its expansion or env rules drifted from
// Kubernetes', a template could pass conformance and still fail in a cluster.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expand, prepareContainer, replacePathPrefix, resolveEnv, rewriteMountPathsInSecretFiles } from './kubelet.js';
import { exporterCommand } from './prove.js';

const vars: Record<string, string> = { VAR_A: 'A', VAR_B: 'B', EMPTY: '' };
const lookup = (name: string) => vars[name];

describe('expand ($(VAR) as the kubelet expands it)', () => {
  const cases: [string, string][] = [
    ['$(VAR_A)', 'A'],
    ['___$(VAR_B)___', '___B___'],
    ['$(VAR_A)-$(VAR_A)', 'A-A'],
    ['$(EMPTY)x', 'x'],
    ['$$(VAR_B)_$(VAR_A)', '$(VAR_B)_A'],
    ['$$$(VAR_A)', '$A'],
    ['$$$$', '$$'],
    ['$(UNDEFINED)', '$(UNDEFINED)'],
    ['$(VAR_A', '$(VAR_A'],
    ['$()', '$()'],
    ['$VAR_A', '$VAR_A'],
    ['pass$word', 'pass$word'],
    ['trailing$', 'trailing$'],
    ['', ''],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => assert.equal(expand(input, lookup), want));
  }
});

const container = (env: V1Container['env'], extra: Partial<V1Container> = {}): V1Container => ({ name: 'x-exporter', image: 'x', env, ...extra });

describe('resolveEnv', () => {
  const secrets = new Map([['creds', { username: 'monitor', password: 'p$w' }]]);

  it('expands a value only against variables defined before it', () => {
    const env = resolveEnv(container([{ name: 'A', value: 'a' }, { name: 'B', value: '$(A)-$(C)' }, { name: 'C', value: 'c' }]), secrets);
    assert.equal(env.get('B'), 'a-$(C)');
  });

  it('takes secretKeyRef values verbatim, without expansion', () => {
    const env = resolveEnv(container([{ name: 'P', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } }]), secrets);
    assert.equal(env.get('P'), 'p$w');
  });

  it('skips an optional reference to a missing key', () => {
    const env = resolveEnv(container([{ name: 'U', valueFrom: { secretKeyRef: { name: 'creds', key: 'user', optional: true } } }]), secrets);
    assert.equal(env.has('U'), false);
  });

  it('refuses a required reference to a missing key or Secret, as CreateContainerConfigError', () => {
    assert.throws(() => resolveEnv(container([{ name: 'U', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } }]), secrets), /couldn't find key user in Secret creds/);
    assert.throws(() => resolveEnv(container([{ name: 'U', valueFrom: { secretKeyRef: { name: 'other', key: 'user' } } }]), secrets), /secret "other" not found/);
  });
});

describe('prepareContainer', () => {
  const pod: V1Pod = {
    spec: {
      containers: [],
      volumes: [
        { name: 'progs', configMap: { name: 'cm' } },
        { name: 'scratch', emptyDir: {} },
      ],
    },
  };
  const exporter = container([{ name: 'USER', valueFrom: { secretKeyRef: { name: 'creds', key: 'username' } } }], {
    args: ['--user=$(USER)', '--progs=/etc/progs', '--glob=/etc/progs/*.prog', '--other=/etc/progsx'],
    volumeMounts: [
      { name: 'progs', mountPath: '/etc/progs', readOnly: true },
      { name: 'scratch', mountPath: '/tmp' },
    ],
    securityContext: { runAsUser: 65534, readOnlyRootFilesystem: true },
  });
  const r = prepareContainer(exporter, pod, new Map([['creds', { username: 'monitor' }]]), new Map([['progs', '/w/progs'], ['scratch', '/w/scratch']]));

  it('expands args against the final env and maps mount paths to the directories standing in for the volumes', () => {
    assert.deepEqual(r.args, ['--user=monitor', '--progs=/w/progs', '--glob=/w/progs/*.prog', '--other=/etc/progsx']);
  });

  it('keeps the security context: user, group defaulting to the user, read-only root', () => {
    assert.deepEqual([r.runAsUser, r.runAsGroup, r.readOnlyRootFilesystem], [65534, 65534, true]);
    assert.deepEqual(r.mounts.map((m) => [m.mountPath, m.readOnly, m.scratch]), [['/etc/progs', true, false], ['/tmp', false, true]]);
  });

  it('runs the exporter as that user, in a private mount namespace with a read-only root and the volumes bound', () => {
    const [command, args] = exporterCommand('/usr/bin/x', r);
    assert.equal(command, 'unshare');
    const script = args[args.indexOf('-c') + 1] ?? '';
    assert.match(script, /mount --bind '\/w\/progs' '\/w\/progs' && mount -o remount,bind,ro '\/w\/progs'/);
    assert.match(script, /mount --bind '\/w\/scratch' '\/w\/scratch' && mount -o remount,bind,ro \/ && exec "\$@"$/);
    const setpriv = args.slice(args.indexOf('setpriv'));
    for (const flag of ['--reuid=65534', '--regid=65534', '--clear-groups', '--no-new-privs', '--bounding-set=-all']) assert.ok(setpriv.includes(flag), flag);
    assert.deepEqual(args.slice(-5), ['/usr/bin/x', '--user=monitor', '--progs=/w/progs', '--glob=/w/progs/*.prog', '--other=/etc/progsx']);
  });
});

describe('replacePathPrefix', () => {
  it('replaces whole path components only', () => {
    assert.equal(replacePathPrefix('/var/log/app/*.log', '/var/log/app', '/t/logs'), '/t/logs/*.log');
    assert.equal(replacePathPrefix('/var/log/application', '/var/log/app', '/t/logs'), '/var/log/application');
    assert.equal(replacePathPrefix('/x/var/log/app', '/var/log/app', '/t/logs'), '/x/var/log/app');
    assert.equal(replacePathPrefix('a=/var/log/app,b=/var/log/app/', '/var/log/app/', '/t'), 'a=/t,b=/t/');
  });
});

describe('rewriteMountPathsInSecretFiles', () => {
  it('points a mounted Secret file at the host directories of the other mounts, keeping its mode, and leaves other volumes alone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ei-kubelet-test-'));
    try {
      const config = join(root, 'config');
      const ca = join(root, 'ca');
      const progs = join(root, 'progs');
      for (const d of [config, ca, progs]) await mkdir(d);
      await writeFile(join(config, 'my.cnf'), '[client]\nssl-ca=/etc/x/tls-ca/ca.crt\nhost=127.0.0.1\n', { mode: 0o440 });
      await writeFile(join(progs, 'p.mtail'), '# /etc/x/tls-ca/ca.crt\n');
      const exporter: V1Container = {
        name: 'exporter',
        securityContext: { runAsUser: 65534 },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/x/config', readOnly: true },
          { name: 'tls-ca', mountPath: '/etc/x/tls-ca', readOnly: true },
          { name: 'progs', mountPath: '/etc/x/progs', readOnly: true },
        ],
      };
      const pod: V1Pod = {
        spec: {
          containers: [exporter],
          volumes: [{ name: 'config', secret: { secretName: 'c' } }, { name: 'tls-ca', secret: { secretName: 'ca' } }, { name: 'progs', configMap: { name: 'p' } }],
        },
      };
      const r = prepareContainer(exporter, pod, new Map(), new Map([['config', config], ['tls-ca', ca], ['progs', progs]]));
      await rewriteMountPathsInSecretFiles(r, pod);
      assert.equal(await readFile(join(config, 'my.cnf'), 'utf8'), `[client]\nssl-ca=${ca}/ca.crt\nhost=127.0.0.1\n`);
      assert.equal((await stat(join(config, 'my.cnf'))).mode & 0o777, 0o440);
      assert.equal(await readFile(join(progs, 'p.mtail'), 'utf8'), '# /etc/x/tls-ca/ca.crt\n');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
