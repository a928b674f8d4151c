// Realistic pods for the soak: a third not opted in, most of the rest opted in to a built-in
// template (with the Secret it needs), and some denied for a bad parameter, in varied shapes.
import type { Registry } from '../../src/core/types.js';
import { Rng } from '../helpers/review-fuzz.js';

export function mixedPods(registry: Registry, count: number, seed = 1): Record<string, unknown>[] {
  const rng = new Rng(seed);
  const templates = [...registry.templates.values()].filter((t) => t.params.every((p) => !p.required));
  return Array.from({ length: count }, (_, i) => {
    const annotations: Record<string, string> = { 'kubectl.kubernetes.io/restartedAt': `2026-11-${String(1 + (i % 28)).padStart(2, '0')}T00:00:00Z` };
    const kind = rng.next();
    if (kind >= 0.35) {
      const template = rng.pick(templates);
      annotations['exporter-injector.io/inject'] = template.name;
      if (template.credentials.length > 0) annotations[`exporter-injector.io/${template.name}.secret`] = `${template.name}-creds`;
      if (rng.chance(0.3)) annotations['exporter-injector.io/scrape'] = rng.pick(['auto', 'override', 'off']);
      if (rng.chance(0.2)) annotations[`exporter-injector.io/${template.name}.cpu`] = rng.pick(['10m', '50m', '100m']);
      // Denied: a port that is not a port.
      if (kind < 0.5) annotations[`exporter-injector.io/${template.name}.port`] = rng.pick(['ninety', '70000', '']);
    }
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: `app-${i}-`, namespace: rng.pick(['default', 'shop', 'payments']), labels: { app: `app-${i % 50}`, 'pod-template-hash': `h${i}` }, annotations },
      spec: {
        containers: Array.from({ length: 1 + rng.int(3) }, (_, c) => ({
          name: `c${c}`,
          image: rng.pick(['nginx:1.27', 'redis:7.4', 'postgres:16', 'busybox:1.36']),
          ports: [{ containerPort: 8000 + c, protocol: 'TCP' }],
          env: Array.from({ length: rng.int(5) }, (_, e) => ({ name: `E${e}`, value: 'x'.repeat(rng.int(200)) })),
        })),
        ...(rng.chance(0.3) ? { volumes: [{ name: 'data', emptyDir: {} }] } : {}),
      },
    };
  });
}
