// One case, steps 1 to 5: inject the example pod, start its server, run the Debian exporter with
// exactly the rendered args and env, let Prometheus discover and scrape the pod, and check the answer.
import { writeFile } from 'node:fs/promises';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { join } from 'node:path';
import { PREFIX, type ExporterTemplate, type Pod, type Registry } from '../../src/core/types.js';
import type { ProvableCase, Fixture } from './cases.js';
import { installed } from './debian.js';
import { prepareContainer, rewriteMountPathsInSecretFiles, writeSecretVolume, type Runnable } from './kubelet.js';
import { examplePod, inject, NAMESPACE } from './pod.js';
import { freePort, start, stop, telling, waitForPort } from './procs.js';
import { JOB, pollUntil, type ActiveTarget, type Prometheus } from './prometheus.js';
import type { Workspace } from './servers.js';

export type Result = 'pass' | 'FAIL' | 'gap' | 'flags only' | 'not proven';

export interface Row {
  readonly template: string;
  readonly exporter: string;
  readonly server: string;
  readonly result: Result;
  readonly notes: string;
  /** For the markdown report: how the exporter was run and what it printed when it failed. */
  readonly details: readonly string[];
}

export interface ProveContext {
  readonly registry: Registry;
  readonly prometheus: Prometheus;
  readonly ws: Workspace;
}

/** How long Prometheus gets to discover, scrape and store a healthy answer. */
const SCRAPE_TIMEOUT_MS = 30_000;
const LISTEN_TIMEOUT_MS = 15_000;

/** Whether the template can move its listen port (else the exporter binds template.port). */
export const usesPort = (t: ExporterTemplate) => t.args.some((a) => a.includes('{port}')) || t.env.some((e) => e.value.includes('{port}'));

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The exporter as the container runtime would run it: the template's user and group, no privilege
 * escalation, no capabilities, its volumes (read-only where mounted so) and, when the template says
 * so, a read-only root filesystem. A private mount namespace keeps all of that away from the host.
 */
export function exporterCommand(binary: string, r: Runnable): [string, string[]] {
  const setpriv = [
    'setpriv',
    `--reuid=${r.runAsUser}`,
    `--regid=${r.runAsGroup}`,
    ...(r.supplementaryGroups.length > 0 ? [`--groups=${r.supplementaryGroups.join(',')}`] : ['--clear-groups']),
    '--no-new-privs',
    '--bounding-set=-all',
    '--inh-caps=-all',
    '--',
    binary,
    ...r.args,
  ];
  const steps = r.mounts.map((m) => {
    const path = shellQuote(m.hostPath);
    return `mount --bind ${path} ${path}${m.readOnly ? ` && mount -o remount,bind,ro ${path} ${path}` : ''}`;
  });
  if (r.readOnlyRootFilesystem) steps.push('mount -o remount,bind,ro /');
  steps.push('exec "$@"');
  return ['unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', steps.join(' && '), 'sh', ...setpriv]];
}

/** The env shown in the report: names, with values only for what is not a credential. */
function describeEnv(r: Runnable, secretValues: ReadonlySet<string>): string {
  return [...r.env].map(([k, v]) => (secretValues.has(v) || /PASS|SECRET|TOKEN|KEY|DATA_SOURCE_NAME/.test(k) ? `${k}=<secret>` : `${k}=${v}`)).join(' ') || '(none)';
}

interface Attempt {
  readonly ok: boolean;
  readonly summary: string;
  readonly output: string;
}

async function runAndScrape(c: ProvableCase, r: Runnable, pod: Pod, exporter: V1Container, port: number, ctx: ProveContext): Promise<Attempt> {
  const [command, args] = exporterCommand(c.exporter.binary, r);
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/', HOSTNAME: pod.metadata?.name ?? 'pod', ...Object.fromEntries(r.env) };
  const proc = start(`${c.template} exporter`, command, args, { env, cwd: '/' });
  const podName = pod.metadata?.name ?? '';
  const selector = `job="${JOB}",namespace="${NAMESPACE}",pod="${podName}"`;
  try {
    try {
      await waitForPort(port, proc, c.listenTimeoutMs ?? LISTEN_TIMEOUT_MS);
    } catch (err) {
      return { ok: false, summary: (err as Error).message, output: proc.output() };
    }
    await ctx.prometheus.publish(pod);
    const healthQuery = c.health?.(selector);
    let said: string | undefined;
    const outcome = await pollUntil<{ target: ActiveTarget; health: number | undefined }>(SCRAPE_TIMEOUT_MS, async () => {
      if (proc.exit() !== null) return { done: false, why: `the exporter exited (${proc.exit()}): ${telling(proc.output())}` };
      const target = await ctx.prometheus.target(podName);
      if (target === undefined) return { done: false, why: 'Prometheus has not discovered the pod (no active target after relabelling)' };
      if (c.expectFailure) {
        // Judged on what users read, the exporter's log and its metrics page (fetched directly:
        // the suite's 1 s scrape timeout is shorter than a failing exporter may take).
        const page = await fetch(target.scrapeUrl, { signal: AbortSignal.timeout(10_000) }).then((res) => res.text()).catch(() => '');
        const text = `${proc.output()}\n${page}`;
        const missing = c.expectFailure.says.find((re) => !re.test(text));
        if (missing !== undefined) return { done: false, why: `neither the exporter's log nor its metrics page say ${missing} yet: ${telling(proc.output())}` };
        said = c.expectFailure.says.map((re) => text.match(re)?.[0] ?? '').join('", "');
        return { done: true, value: { target, health: 0 } };
      }
      const up = await ctx.prometheus.value(`up{${selector}}`);
      if (up !== 1) return { done: false, why: `up=${up ?? 'absent'} for ${target.scrapeUrl}${target.lastError ? `: ${target.lastError}` : ''}` };
      if (healthQuery === undefined) return { done: true, value: { target, health: undefined } };
      const health = await ctx.prometheus.value(healthQuery);
      if (health !== 1) return { done: false, why: `up=1 at ${target.scrapeUrl} but ${healthQuery} = ${health ?? 'absent'}` };
      return { done: true, value: { target, health } };
    });
    if (!outcome.ok) return { ok: false, summary: outcome.why, output: proc.output() };
    const probes = await checkProbes(exporter);
    if (!probes.ok) return { ok: false, summary: probes.summary, output: proc.output() };
    const { target } = outcome.value;
    // Queries are shown without the target selector, which every one of them carries.
    const shown = (query: string) => query.replaceAll(`{${selector}}`, '').replaceAll(`${selector},`, '');
    if (c.expectFailure) {
      return { ok: true, summary: `fails as users will see it (${c.expectFailure.what}): ${target.scrapeUrl} and the exporter's log say "${said ?? ''}"`, output: proc.output() };
    }
    const seen = healthQuery === undefined ? 'up=1' : `up=1, ${shown(healthQuery)}=1`;
    let extra = '';
    if (c.flagsOnly) {
      const reported = await ctx.prometheus.value(c.flagsOnly.report(selector)).catch(() => undefined);
      extra = `; ${shown(c.flagsOnly.report(selector))}=${reported ?? 'absent'}`;
    }
    return { ok: true, summary: `scraped ${target.scrapeUrl}: ${seen}${extra}${probes.summary ? `; ${probes.summary}` : ''}`, output: proc.output() };
  } finally {
    await ctx.prometheus.withdraw(podName);
    await stop(proc);
  }
}

/**
 * The container's httpGet probes, asked as the kubelet would (success is 200-399): a wrong probe
 * path keeps a sidecar unready, or restarts it, however well it exports.
 */
async function checkProbes(container: V1Container): Promise<{ ok: boolean; summary: string }> {
  const probes = ([['startup', container.startupProbe], ['readiness', container.readinessProbe], ['liveness', container.livenessProbe]] as const).filter(
    (p): p is readonly ['startup' | 'readiness' | 'liveness', V1Probe] => p[1]?.httpGet !== undefined,
  );
  const passed: string[] = [];
  for (const [kind, probe] of probes) {
    const get = probe.httpGet;
    if (get === undefined) continue;
    const port = typeof get.port === 'number' ? get.port : container.ports?.find((p) => p.name === get.port)?.containerPort;
    if (port === undefined) return { ok: false, summary: `${kind} probe names port ${JSON.stringify(get.port)}, which the container does not declare` };
    const url = `${(get.scheme ?? 'HTTP').toLowerCase()}://127.0.0.1:${port}${get.path ?? '/'}`;
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(probe.timeoutSeconds !== undefined ? probe.timeoutSeconds * 1000 : 1000) });
      await res.arrayBuffer();
      if (res.status < 200 || res.status >= 400) return { ok: false, summary: `${kind} probe GET ${url} answered ${res.status}` };
    } catch (err) {
      return { ok: false, summary: `${kind} probe GET ${url} failed: ${(err as Error).message}` };
    }
    passed.push(`${kind} ${get.path ?? '/'}`);
  }
  return { ok: true, summary: passed.length > 0 ? `probes ok (${passed.join(', ')})` : '' };
}

/** Host directories for the volumes the exporter mounts: ConfigMaps written out, the pod's own volumes from the fixture. */
async function volumeDirs(pod: Pod, fixture: Fixture, ws: Workspace, template: string): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    const own = fixture.podVolumes?.[volume.name];
    if (own !== undefined) {
      dirs.set(volume.name, own);
    } else if (volume.configMap !== undefined) {
      const data = fixture.configMaps?.[volume.configMap.name ?? ''];
      if (data === undefined) throw new Error(`configmap "${volume.configMap.name}" not found (volume ${volume.name})`);
      const dir = await ws.dir(`${template}-volume-${volume.name}`);
      for (const [file, content] of Object.entries(data)) await writeFile(join(dir, file), content, { mode: 0o644 });
      dirs.set(volume.name, dir);
    } else if (volume.secret !== undefined) {
      const dir = await ws.dir(`${template}-volume-${volume.name}`);
      await writeSecretVolume(volume, pod, new Map(Object.entries(fixture.secrets ?? {})), dir);
      dirs.set(volume.name, dir);
    } else if (volume.emptyDir !== undefined) {
      dirs.set(volume.name, await ws.dir(`${template}-volume-${volume.name}`));
    }
  }
  return dirs;
}

/** A pod-name suffix for a variant (DNS label characters only). */
const CASES_VARIANT_SUFFIX = (variant: string): string => variant.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 30);

/** The report's first column: the template, and the variant when a template has several cases. */
export const caseLabel = (c: ProvableCase): string => (c.variant === undefined ? c.template : `${c.template} (${c.variant})`);

export async function prove(c: ProvableCase, ctx: ProveContext): Promise<Row> {
  const template = ctx.registry.templates.get(c.template);
  const pkg = await installed(c.exporter.package);
  const server = c.serverPackage === undefined ? undefined : await installed(c.serverPackage);
  const exporterCol = pkg ? `${pkg.name} ${pkg.version}` : `${c.exporter.package} (not installed)`;
  const serverCol = c.serverPackage === undefined ? (c.flagsOnly ? `none (${c.flagsOnly.why})` : 'the pod itself') : server ? `${server.name} ${server.version}` : `${c.serverPackage} (not installed)`;
  const row = (result: Result, notes: string, details: string[] = []): Row => ({ template: caseLabel(c), exporter: exporterCol, server: serverCol, result, notes, details });

  if (template === undefined) return row('FAIL', 'the registry has no such template');
  if (!pkg || (c.serverPackage !== undefined && !server)) return row('FAIL', 'Debian packages missing: run test/conformance/setup.sh');
  if (!c.exporter.homepage.test(pkg.homepage)) {
    return row('FAIL', `${pkg.name} packages ${pkg.homepage || 'an unknown upstream'}, not the project the template's image comes from`);
  }

  const details: string[] = [];
  let fixture: Fixture | undefined;
  try {
    fixture = await c.fixture(ctx.ws);
    details.push(`template: ${template.name} ${template.version}, image ${template.image}`, ...fixture.servers.map((s) => `server: ${s.summary}`));
    const port = usesPort(template) ? await freePort() : template.port;
    const params: Record<string, string> = { ...fixture.params, ...(usesPort(template) ? { port: String(port) } : {}) };
    const pod = examplePod({ template: c.template, name: `${c.template}-conformance${c.variant === undefined ? '' : `-${CASES_VARIANT_SUFFIX(c.variant)}`}`, containers: fixture.containers, params, ...(fixture.spec ? { spec: fixture.spec } : {}) });
    details.push(`annotations: ${Object.entries(params).map(([k, v]) => `${PREFIX}${c.template}.${k}=${v}`).join(' ')}`);
    const injected = inject(pod, ctx.registry, c.template);
    const secrets = new Map(Object.entries(fixture.secrets ?? {}));
    const secretValues = new Set([...secrets.values()].flatMap((s) => Object.values(s)));
    const runnable = prepareContainer(injected.exporter, injected.pod, secrets, await volumeDirs(injected.pod, fixture, ctx.ws, c.template));
    await rewriteMountPathsInSecretFiles(runnable, injected.pod);
    const targetNote = template.target.format === 'none' ? '' : params.target === undefined ? `target ${template.target.default} (template default); ` : `target ${params.target}; `;
    const security = `${targetNote}as ${runnable.runAsUser}:${runnable.runAsGroup}${runnable.readOnlyRootFilesystem ? ', read-only root' : ''}`;
    details.push(`exporter (${security}): ${c.exporter.binary} ${runnable.args.join(' ')}`, `env: ${describeEnv(runnable, secretValues)}`);

    const first = await runAndScrape(c, runnable, injected.pod, injected.exporter, port, ctx);
    if (first.ok) return row(c.flagsOnly ? 'flags only' : 'pass', `${first.summary}; ${security}`, details);

    if (c.gap && c.gap.signature.test(first.output)) {
      const seen = first.output.match(c.gap.signature)?.[0] ?? '';
      details.push(`as rendered: ${seen}`);
      if (!c.gap.adapt) return row('gap', `${c.gap.difference} (Debian build: "${seen}")`, details);
      const adapted = c.gap.adapt(runnable);
      details.push(`adapted (${c.gap.adaptation ?? 'translated'}): ${c.exporter.binary} ${adapted.args.join(' ')}; env: ${describeEnv(adapted, secretValues)}`);
      const second = await runAndScrape(c, adapted, injected.pod, injected.exporter, port, ctx);
      if (!second.ok) {
        details.push(`adapted run output: ${telling(second.output, 6)}`);
        return row('FAIL', `version gap (${c.gap.difference}), and the adapted run failed too: ${second.summary}`, details);
      }
      return row('gap', `${c.gap.difference}. Debian build says "${seen}". With ${c.gap.adaptation}: ${second.summary}; ${security}`, details);
    }
    details.push(`exporter output: ${telling(first.output, 6)}`);
    return row('FAIL', first.summary, details);
  } catch (err) {
    return row('FAIL', err instanceof Error ? err.message : String(err), details);
  } finally {
    for (const s of fixture?.servers ?? []) await s.stop();
  }
}
