// The registry while the server runs: built-ins plus the templates directory (a mounted ConfigMap),
// reloaded when the directory changes. A change is taken whole or not at all: one invalid file
// and the last good registry keeps serving, with every problem logged.
import type { Logger } from 'pino';
import type { Registry } from '../core/types.js';
import { isInjectorError } from '../errors.js';
import { loadRegistry } from '../registry/load.js';
import { Current } from './current.js';
import type { WebhookMetrics } from './metrics.js';
import { directorySignature, watchForChanges, type ChangeWatch } from './watch.js';

export class TemplateRegistry {
  readonly current: Current<Registry>;
  #watch: ChangeWatch | undefined;
  readonly #loadedSignature: string;

  private constructor(
    readonly dir: string | undefined,
    registry: Registry,
    loadedSignature: string,
    private readonly logger: Logger,
    private readonly metrics: WebhookMetrics,
  ) {
    this.current = new Current(registry);
    this.#loadedSignature = loadedSignature;
    metrics.registryTemplates.set(registry.templates.size);
  }

  /** Throws EI_ERR_REGISTRY_INVALID at start-up: a webhook must not start on a broken registry. */
  static async load(dir: string | undefined, logger: Logger, metrics: WebhookMetrics): Promise<TemplateRegistry> {
    const signature = dir === undefined ? '' : await directorySignature(dir).catch(() => '');
    const registry = await loadRegistry(dir);
    logger.info({ templatesDir: dir ?? null, templates: [...registry.templates.keys()] }, 'template registry loaded');
    return new TemplateRegistry(dir, registry, signature, logger, metrics);
  }

  /** Loads the directory again; true when a new registry now serves. Never throws. */
  async reload(): Promise<boolean> {
    let next: Registry;
    try {
      next = await loadRegistry(this.dir);
    } catch (e) {
      this.metrics.registryReloadFailures.inc();
      const problems = isInjectorError(e) && e.details.length > 0 ? e.details : [e instanceof Error ? e.message : String(e)];
      this.logger.error(
        { templatesDir: this.dir, code: isInjectorError(e) ? e.code : 'EI_ERR_INTERNAL', error: e instanceof Error ? e.message : String(e), problems },
        'refused the changed templates; the last good registry keeps serving',
      );
      return false;
    }
    const previous = this.current.swap(next);
    this.metrics.registryTemplates.set(next.templates.size);
    this.logger.info(
      { templatesDir: this.dir, templates: [...next.templates.keys()], previousCount: previous.templates.size },
      'template registry reloaded',
    );
    return true;
  }

  /** Starts watching the directory; without one there is nothing to reload. */
  watch(intervalMs: number): void {
    const dir = this.dir;
    if (dir === undefined) return;
    this.#watch = watchForChanges({
      dirs: [dir],
      signature: () => directorySignature(dir),
      initialSignature: this.#loadedSignature,
      onChange: async () => {
        await this.reload();
      },
      intervalMs,
      onWatchError: (e) => this.logger.warn({ err: e, templatesDir: dir }, 'cannot watch the templates folder; relying on polling'),
    });
  }

  async check(): Promise<void> {
    await this.#watch?.check();
  }

  close(): void {
    this.#watch?.close();
  }
}
