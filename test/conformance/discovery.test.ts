// The harness feeds Prometheus the labels Kubernetes pod discovery would give the injected pod, and
// covers every template: these checks keep both honest without needing the Debian packages.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadRegistry } from '../../src/registry/load.js';
import { CASES } from './cases.js';
import { podTargets, sanitizeLabelName } from './prometheus.js';

describe('podTargets (file_sd stand-in for the kubernetes pod role)', () => {
  const groups = podTargets(
    {
      metadata: {
        name: 'cache',
        namespace: 'shop',
        labels: { app: 'cache', 'exporter-injector.io/injected': 'true' },
        annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9121' },
      },
      spec: {
        containers: [
          { name: 'redis', image: 'redis:7', ports: [{ name: 'redis', containerPort: 6379 }] },
          { name: 'worker', image: 'worker:1' },
        ],
        initContainers: [{ name: 'redis-exporter', image: 'oliver006/redis_exporter:v1.88.0', ports: [{ name: 'redis-metrics', containerPort: 9121, protocol: 'TCP' }] }],
      },
    },
    '10.0.0.7',
  );

  it('gives one target per container port, and one without a port for a container that declares none', () => {
    assert.deepEqual(groups.map((g) => g.targets), [['10.0.0.7:6379'], ['10.0.0.7'], ['10.0.0.7:9121']]);
  });

  it('includes init containers (native sidecars), flagged as such', () => {
    const exporter = groups[2]?.labels;
    assert.equal(exporter?.__meta_kubernetes_pod_container_init, 'true');
    assert.equal(exporter?.__meta_kubernetes_pod_container_name, 'redis-exporter');
    assert.equal(exporter?.__meta_kubernetes_pod_container_port_name, 'redis-metrics');
    assert.equal(exporter?.__meta_kubernetes_pod_container_port_number, '9121');
    assert.equal(groups[0]?.labels.__meta_kubernetes_pod_container_init, 'false');
  });

  it('sanitises annotation and label names as Prometheus does, with their *present twins', () => {
    const labels = groups[0]?.labels ?? {};
    assert.equal(labels.__meta_kubernetes_pod_annotation_prometheus_io_scrape, 'true');
    assert.equal(labels.__meta_kubernetes_pod_annotationpresent_prometheus_io_port, 'true');
    assert.equal(labels.__meta_kubernetes_pod_label_exporter_injector_io_injected, 'true');
    assert.equal(labels.__meta_kubernetes_namespace, 'shop');
    assert.equal(labels.__meta_kubernetes_pod_name, 'cache');
  });

  it('sanitizeLabelName replaces every character outside [a-zA-Z0-9_]', () => {
    assert.equal(sanitizeLabelName('exporter-injector.io/redis.port'), 'exporter_injector_io_redis_port');
  });
});

describe('conformance cases', () => {
  it('name every built-in template exactly once, so none is left out of the report silently', async () => {
    const registry = await loadRegistry();
    const builtins = [...registry.templates.keys()].sort();
    // Variant cases (TLS, ...) are further cases of a template that already has its main one.
    const covered = CASES.filter((c) => c.kind === 'unprovable' || c.variant === undefined).map((c) => c.template).sort();
    assert.deepEqual(covered, builtins);
    const labels = CASES.map((c) => (c.kind === 'provable' && c.variant !== undefined ? `${c.template} (${c.variant})` : c.template));
    assert.equal(new Set(labels).size, labels.length, 'every case has its own label');
  });
});
