// Measures `audit` over N pods in the cluster stand-in (not a test: timings belong to no assertion).
//   node --expose-gc --import tsx test/operate/measure-audit.ts 10000 500,100,2000
// Prints, per page size: pods, pages, findings, wall time, requests, and the peak heap growth while it ran.
import { buildWebhookConfiguration } from '../../src/kube/webhook-config.js';
import { loadRegistry } from '../../src/registry/load.js';
import { ClusterStandIn } from '../helpers/cluster-standin.js';
import { run } from './installation.js';
import { populate } from './population.js';

const pods = Number(process.argv[2] ?? 10000);
const pageSizes = (process.argv[3] ?? '500,500,100,2000').split(',');
const cluster = await ClusterStandIn.start();
try {
  for (const ns of ['default', 'exporter-injector']) cluster.addNamespace(ns);
  cluster.api.seedMwc(buildWebhookConfiguration() as never);
  populate(cluster, await loadRegistry(), pods);
  for (const page of pageSizes) {
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
    const requests = cluster.api.requests.length;
    const started = performance.now();
    const r = await run(['audit', '--kubeconfig', cluster.kubeconfigPath, '--page-size', page, '-o', 'json']);
    const ms = performance.now() - started;
    clearInterval(sampler);
    const report = JSON.parse(r.stdout) as { scanned: { pods: number; pages: number }; findings: number };
    console.log(
      `page-size ${page}: ${report.scanned.pods} pods, ${report.scanned.pages} pages, ${report.findings} findings, ${Math.round(ms)} ms, ` +
        `${cluster.api.requests.length - requests} requests, peak heap +${Math.round((peak - base) / 1e6)} MB`,
    );
  }
} finally {
  await cluster.stop();
}
