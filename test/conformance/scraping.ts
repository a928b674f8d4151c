// A pod with two exporters, one on a non-default path, scraped by both the standard annotation job
// (which can follow one exporter per pod: prometheus.io/* name one port) and the jobs translated
// from the shipped PodMonitor (every exporter, each on its own port, path and scheme).
import { ANNOTATION } from '../../src/core/annotations.js';
import { PREFIX, type Pod } from '../../src/core/types.js';
import { installed } from './debian.js';
import { prepareContainer } from './kubelet.js';
import { inject, NAMESPACE } from './pod.js';
import { freePort, start, stop, telling, waitForPort, type Started } from './procs.js';
import { JOB, pollUntil, podMonitorJob, type ActiveTarget } from './prometheus.js';
import { exporterCommand, type ProveContext, type Row } from './prove.js';
import { startPostgres, startRedis, type Server } from './servers.js';

const POD = 'two-exporters-conformance';
const SECRET = 'exporter-credentials';
const PG_SECRET = 'pg-credentials';
const BINARIES: Record<string, string> = { redis: '/usr/bin/prometheus-redis-exporter', postgres: '/usr/bin/prometheus-postgres-exporter' };
/** The non-default path the first exporter is moved to with `redis.path`. */
const REDIS_PATH = '/redis-metrics';

export const SCRAPING_LABEL = 'redis,postgres (two exporters, redis.path; PodMonitor)';

export async function proveScraping(ctx: ProveContext): Promise<Row> {
  const redisPkg = await installed('prometheus-redis-exporter');
  const pgPkg = await installed('prometheus-postgres-exporter');
  const row = (result: Row['result'], notes: string, details: string[] = []): Row => ({
    template: SCRAPING_LABEL,
    exporter: [redisPkg, pgPkg].map((p) => (p ? `${p.name} ${p.version}` : 'missing')).join(', '),
    server: 'redis-server, postgresql',
    result,
    notes,
    details,
  });
  const servers: Server[] = [];
  const procs: Started[] = [];
  const details: string[] = [];
  try {
    servers.push(await startRedis(ctx.ws, 6379, 'conformance-redis-pw'));
    servers.push(await startPostgres(ctx.ws, 5432, 'monitor', 'conformance-pg-pw'));
    const ports = { redis: await freePort(), postgres: await freePort() };
    const pod: Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: POD,
        namespace: NAMESPACE,
        annotations: {
          [ANNOTATION.inject]: 'redis,postgres',
          [`${PREFIX}redis.port`]: String(ports.redis),
          [`${PREFIX}redis.path`]: REDIS_PATH,
          [`${PREFIX}redis.secret`]: SECRET,
          [`${PREFIX}postgres.port`]: String(ports.postgres),
          [`${PREFIX}postgres.secret`]: PG_SECRET,
        },
      },
      spec: { containers: [{ name: 'redis', image: 'redis:7.0' }, { name: 'postgres', image: 'postgres:15' }] },
    };
    const secrets = new Map<string, Record<string, string>>([
      [SECRET, { password: 'conformance-redis-pw' }],
      [PG_SECRET, { username: 'monitor', password: 'conformance-pg-pw' }],
    ]);
    const injectedRedis = inject(pod, ctx.registry, 'redis');
    const injectedPg = inject(pod, ctx.registry, 'postgres');
    const injected = injectedRedis.pod;
    const slots = Object.entries(injected.metadata?.annotations ?? {}).filter(([k]) => k.startsWith('metrics.exporter-injector.io/'));
    details.push(`annotations written: ${slots.map(([k, v]) => `${k}="${v}"`).join(' ')}; prometheus.io/path=${injected.metadata?.annotations?.['prometheus.io/path'] ?? ''}`);
    for (const [template, exporter] of [['redis', injectedRedis.exporter], ['postgres', injectedPg.exporter]] as const) {
      const r = prepareContainer(exporter, injected, secrets, new Map());
      const [command, args] = exporterCommand(BINARIES[template] ?? '', r);
      const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/', ...Object.fromEntries(r.env) };
      const proc = start(`${template} exporter (two exporters)`, command, args, { env, cwd: '/' });
      procs.push(proc);
      await waitForPort(ports[template], proc, 15_000);
    }
    await ctx.prometheus.publish(injected);
    const monitorJobs = [0, 1].map((i) => podMonitorJob('exporter-injector-exporters', 'exporter-injector', i));
    const outcome = await pollUntil<ActiveTarget[]>(30_000, async () => {
      const targets = await ctx.prometheus.targets(POD);
      const byJob = (job: string) => targets.filter((t) => t.labels.job === job);
      // The annotation job follows prometheus.io/*: the first exporter, on its moved path.
      const annotated = byJob(JOB);
      if (annotated.length !== 1 || !annotated[0]?.scrapeUrl.endsWith(`:${ports.redis}${REDIS_PATH}`)) {
        return { done: false, why: `${JOB}: expected one target at :${ports.redis}${REDIS_PATH}, have ${annotated.map((t) => t.scrapeUrl).join(', ') || 'none'}` };
      }
      const want = [`:${ports.redis}${REDIS_PATH}`, `:${ports.postgres}/metrics`];
      for (const [i, job] of monitorJobs.entries()) {
        const found = byJob(job);
        if (found.length !== 1 || !found[0]?.scrapeUrl.endsWith(want[i] ?? '')) {
          return { done: false, why: `${job}: expected one target at ${want[i]}, have ${found.map((t) => t.scrapeUrl).join(', ') || 'none'}` };
        }
      }
      for (const [query, name] of [
        [`up{job="${JOB}",pod="${POD}"}`, 'annotation job up'],
        [`redis_up{job="${monitorJobs[0]}",pod="${POD}"}`, 'PodMonitor redis_up'],
        [`pg_up{job="${monitorJobs[1]}",pod="${POD}"}`, 'PodMonitor pg_up'],
        [`redis_up{job="${JOB}",pod="${POD}"}`, 'annotation job redis_up'],
      ] as const) {
        const v = await ctx.prometheus.value(query);
        if (v !== 1) return { done: false, why: `${name}: ${query} = ${v ?? 'absent'}` };
      }
      return { done: true, value: targets };
    });
    if (!outcome.ok) {
      details.push(...procs.map((p) => `exporter output: ${telling(p.output(), 4)}`));
      return row('FAIL', outcome.why, details);
    }
    const urls = outcome.value.map((t) => `${t.labels.job}: ${t.scrapeUrl}`).sort();
    return row('pass', `every exporter scraped on its own path: ${urls.join('; ')}; redis_up=1, pg_up=1 through the PodMonitor jobs`, details);
  } catch (err) {
    return row('FAIL', err instanceof Error ? err.message : String(err), details);
  } finally {
    await ctx.prometheus.withdraw(POD);
    for (const p of procs) await stop(p);
    for (const s of servers) await s.stop();
  }
}
