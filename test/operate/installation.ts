// An installed webhook in the cluster stand-in, as deploy/ leaves it: Deployment, Service, EndpointSlice,
// TLS Secret, the MutatingWebhookConfiguration register writes, and the real webhook server behind them.
import { main } from '../../src/cli/main.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, issueServingCertificate, type PemPair } from '../../src/tls/generate.js';
import { secretManifest } from '../../src/tls/secret.js';
import { ClusterStandIn, startWebhookBackend, webhookInstallation, type WebhookBackend } from '../helpers/cluster-standin.js';
import { fakeIo } from '../helpers/fake-io.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface Pki {
  readonly ca: PemPair;
  readonly serving: PemPair;
}

/** A CA and a serving certificate for exporter-injector.exporter-injector.svc valid `days` from `now`. */
export function pki(options: { now?: Date; days?: number; ca?: PemPair } = {}): Pki {
  const now = options.now ?? new Date();
  const ca = options.ca ?? generateCa({ days: 3650, now: new Date(now.getTime() - DAY_MS) });
  const serving = issueServingCertificate(ca, { service: 'exporter-injector', namespace: 'exporter-injector', days: options.days ?? 365, now });
  return { ca, serving: { cert: serving.cert, key: serving.key } };
}

export interface Installation {
  readonly cluster: ClusterStandIn;
  readonly backend: WebhookBackend;
  stop(): Promise<void>;
}

export interface InstallOptions {
  /** The pair the Secret holds and the webhook serves. */
  readonly tls: Pki;
  /** The CA put in the caBundle (the Secret's CA by default). */
  readonly caBundle?: string;
  /** register was never run: no admission objects at all. */
  readonly unregistered?: boolean;
  /** Flags register is run with (besides --kubeconfig and --ca-file). */
  readonly registerFlags?: readonly string[];
  /** The Secret the Deployment mounts. */
  readonly mountedSecret?: string;
  readonly readyEndpoints?: boolean;
  readonly withoutEndpointSlices?: boolean;
  readonly backend?: Parameters<typeof startWebhookBackend>[1];
  /** The Kubernetes minor version the API server reports (1.30 by default) and its matchConditions gate. */
  readonly kubernetes?: { readonly minor: number; readonly matchConditionsGateOff?: boolean };
}

export async function install(options: InstallOptions): Promise<Installation> {
  const cluster = await ClusterStandIn.start({ withoutEndpointSlices: options.withoutEndpointSlices ?? false });
  if (options.kubernetes) {
    const { minor, matchConditionsGateOff } = options.kubernetes;
    cluster.api.version = { major: '1', minor: String(minor), gitVersion: `v1.${minor}.5` };
    cluster.api.matchConditionsGateOff = matchConditionsGateOff ?? false;
  }
  const backend = await startWebhookBackend(options.tls.serving, options.backend);
  for (const ns of ['default', 'exporter-injector', 'kube-system']) cluster.addNamespace(ns);
  for (const o of webhookInstallation({ port: backend.port, ...(options.mountedSecret ? { secret: options.mountedSecret } : {}), readyEndpoints: options.readyEndpoints ?? true })) {
    cluster.put(o);
  }
  cluster.api.seedSecret(secretManifest({ namespace: 'exporter-injector', caCert: options.tls.ca.cert, cert: options.tls.serving.cert, key: options.tls.serving.key }));
  const dir = await mkdtemp(join(tmpdir(), 'ei-installation-'));
  const stop = async (): Promise<void> => {
    await backend.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  };
  if (!options.unregistered) {
    // The objects are what register itself writes, not a copy of its builder's output.
    const caFile = join(dir, 'ca.crt');
    await writeFile(caFile, options.caBundle ?? options.tls.ca.cert);
    const registered = await run(['register', '--kubeconfig', cluster.kubeconfigPath, '--ca-file', caFile, ...(options.registerFlags ?? [])]);
    if (registered.code !== 0) {
      await stop();
      throw new Error(`install: register failed: ${registered.stderr}`);
    }
  }
  return { cluster, backend, stop };
}

/** Runs the binary's main() in-process. */
export async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { io, stdout, stderr } = fakeIo('', { HOME: '/nonexistent' });
  const code = await main(argv, io);
  return { code, stdout: stdout(), stderr: stderr() };
}
