// The PodMonitor's endpoints, one per scrape slot the core writes (metrics.exporter-injector.io/<n>:
// "<port name> <scheme> <path>"): each keeps the target whose port name is slot n's and takes that
// exporter's scheme and path. A relabeling cannot look a value up by the target's port name, but it
// can compare it with a label of a fixed name (keepequal: Prometheus >= 2.41, prometheus-operator >= 0.63).
import { SCRAPE_SLOT_PREFIX, SCRAPE_SLOTS } from '../core/mutate.js';

/** Prometheus' name for a pod annotation's meta label. */
const annotationLabel = (key: string) => `__meta_kubernetes_pod_annotation_${key.replace(/[^a-zA-Z0-9_]/g, '_')}`;

export function podMonitorEndpoints(): Record<string, unknown>[] {
  return Array.from({ length: SCRAPE_SLOTS }, (_, slot) => {
    const source = [annotationLabel(`${SCRAPE_SLOT_PREFIX}${slot}`)];
    return {
      interval: '30s',
      relabelings: [
        // Pods without slot n are dropped first (an unnamed port would otherwise equal the absent name).
        { sourceLabels: source, regex: '\\S+ https? /\\S*', action: 'keep' },
        { sourceLabels: source, regex: '(\\S+) (\\S+) (\\S+)', replacement: '$1', targetLabel: '__tmp_exporter_port' },
        { sourceLabels: ['__meta_kubernetes_pod_container_port_name'], targetLabel: '__tmp_exporter_port', action: 'keepequal' },
        { sourceLabels: source, regex: '(\\S+) (https?) (\\S+)', replacement: '$2', targetLabel: '__scheme__' },
        { sourceLabels: source, regex: '(\\S+) (\\S+) (/\\S*)', replacement: '$3', targetLabel: '__metrics_path__' },
        // Which exporter a series came from: the container (e.g. redis-exporter) and its port.
        { sourceLabels: ['__meta_kubernetes_pod_container_name'], targetLabel: 'container' },
        { sourceLabels: ['__meta_kubernetes_pod_container_port_name'], targetLabel: 'exporter_port' },
      ],
    };
  });
}
