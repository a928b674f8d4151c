import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isInjectorError } from '../../src/errors.js';
import { detectDefaultSidecarMode, parseClusterVersion, sidecarModeFor } from '../../src/kube/cluster-version.js';
import { FakeApiServer } from './fake-apiserver.js';

describe('parseClusterVersion / sidecarModeFor', () => {
  const cases: [{ major?: string; minor?: string; gitVersion?: string }, number, number, 'classic' | 'native'][] = [
    [{ major: '1', minor: '28', gitVersion: 'v1.28.9' }, 1, 28, 'classic'],
    [{ major: '1', minor: '28+', gitVersion: 'v1.28.9-eks-036c24b' }, 1, 28, 'classic'],
    [{ major: '1', minor: '29', gitVersion: 'v1.29.0' }, 1, 29, 'native'],
    [{ major: '1', minor: '30+', gitVersion: 'v1.30.2-gke.1587003' }, 1, 30, 'native'],
    [{ major: '1', minor: '22', gitVersion: 'v1.22.17' }, 1, 22, 'classic'],
    [{ major: '2', minor: '0', gitVersion: 'v2.0.0' }, 2, 0, 'native'],
    // Some distributions leave major/minor empty; gitVersion still says it.
    [{ major: '', minor: '', gitVersion: 'v1.27.4+k3s1' }, 1, 27, 'classic'],
  ];
  for (const [info, major, minor, mode] of cases) {
    it(`${JSON.stringify(info)} → ${major}.${minor} → ${mode}`, () => {
      const version = parseClusterVersion(info);
      assert.deepEqual(version && { major: version.major, minor: version.minor }, { major, minor });
      assert.equal(sidecarModeFor(version!), mode);
    });
  }

  it('returns undefined when nothing in the answer is a version', () => {
    assert.equal(parseClusterVersion({ major: '', minor: '', gitVersion: 'unknown' }), undefined);
  });
});

describe('detectDefaultSidecarMode', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'ei-home-'));
  });
  after(async () => rm(home, { recursive: true, force: true }));

  for (const [minor, mode] of [['28', 'classic'], ['29', 'native'], ['30+', 'native']] as const) {
    it(`reads /version through the kubeconfig: 1.${minor} → ${mode}`, async () => {
      const fake = await FakeApiServer.start({ version: { major: '1', minor, gitVersion: `v1.${parseInt(minor, 10)}.3` }, token: 't' });
      try {
        // Found through $KUBECONFIG, as kubectl would.
        const detected = await detectDefaultSidecarMode({ env: { KUBECONFIG: fake.kubeconfigPath, HOME: home } });
        assert.equal(detected?.mode, mode);
        assert.equal(detected?.version.gitVersion, `v1.${parseInt(minor, 10)}.3`);
        assert.deepEqual(fake.calls(), ['GET /version']);
      } finally {
        await fake.stop();
      }
    });
  }

  it('returns undefined without a network call when there are no credentials at all', async () => {
    const detected = await detectDefaultSidecarMode({ env: { HOME: home }, serviceAccountTokenPath: join(home, 'no-token') });
    assert.equal(detected, undefined);
  });

  it('throws EI_ERR_KUBE_API naming the server when credentials exist but the server is unreachable', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const fake = await FakeApiServer.start();
    try {
      const config = (await readFile(fake.kubeconfigPath, 'utf8')).replace(fake.url, `http://127.0.0.1:${port}`);
      const path = join(home, 'unreachable.kubeconfig');
      await writeFile(path, config);
      await assert.rejects(detectDefaultSidecarMode({ kubeconfig: path, env: {} }), (e: unknown) => {
        assert.ok(isInjectorError(e, 'EI_ERR_KUBE_API'));
        assert.match(e.message, new RegExp(`cannot read /version at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
        return true;
      });
    } finally {
      await fake.stop();
    }
  });
});
