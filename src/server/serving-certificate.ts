// The serving certificate while the server runs: loaded at start, reloaded when the files change
// (cert-manager renewing a mounted Secret), and handed to the TLS server for new connections only,
// so a handshake or request already in progress is never disturbed. A broken new pair is refused.
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { cipherOption, DEFAULT_CIPHER_SUITES } from '../tls/ciphers.js';
import { readServingPair, type ServingPair } from '../tls/files.js';
import type { WebhookMetrics } from './metrics.js';
import { filesSignature, watchForChanges, type ChangeWatch } from './watch.js';

/** The API server speaks TLS 1.2 and 1.3; nothing older is offered. */
export const MIN_TLS_VERSION = 'TLSv1.2' as const;

export interface TlsOptions {
  readonly cert: string;
  readonly key: string;
  readonly minVersion: typeof MIN_TLS_VERSION;
  /** OpenSSL cipher list (src/tls/ciphers.ts): without it a reload would fall back to Node's defaults. */
  readonly ciphers: string;
}

export interface CertificateTarget {
  /**
   * tls.Server#setSecureContext: replaces the context used by connections accepted from now on.
   * It resets every option it is not given, so minVersion and ciphers are passed each time.
   */
  setSecureContext(options: TlsOptions): void;
}

export class ServingCertificate {
  #pair: ServingPair;
  #watch: ChangeWatch | undefined;
  #target: CertificateTarget | undefined;
  readonly #loadedSignature: string;

  private constructor(
    readonly certPath: string,
    readonly keyPath: string,
    pair: ServingPair,
    loadedSignature: string,
    private readonly logger: Logger,
    private readonly metrics: WebhookMetrics,
    private readonly ciphers: string,
  ) {
    this.#pair = pair;
    this.#loadedSignature = loadedSignature;
    metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
  }

  /** Throws EI_ERR_TLS_INVALID when the pair cannot be served: start-up must fail loudly. */
  static async load(
    certPath: string,
    keyPath: string,
    logger: Logger,
    metrics: WebhookMetrics,
    cipherSuites: readonly string[] = DEFAULT_CIPHER_SUITES,
  ): Promise<ServingCertificate> {
    // Taken before reading, so a change landing in between is seen by the first comparison.
    const signature = await filesSignature([certPath, keyPath]).catch(() => '');
    const pair = await readServingPair(certPath, keyPath);
    logger.info({ cert: certPath, notAfter: pair.notAfter.toISOString(), fingerprint: pair.fingerprint }, 'serving certificate loaded');
    return new ServingCertificate(certPath, keyPath, pair, signature, logger, metrics, cipherOption(cipherSuites));
  }

  get pair(): ServingPair {
    return this.#pair;
  }

  /** What the HTTPS server is created with, and what each reload gives it. */
  tlsOptions(pair: ServingPair = this.#pair): TlsOptions {
    return { cert: pair.cert, key: pair.key, minVersion: MIN_TLS_VERSION, ciphers: this.ciphers };
  }

  expired(now = new Date()): boolean {
    return this.#pair.notAfter.getTime() <= now.getTime();
  }

  /** Reads the files again; true when a new pair now serves. Never throws. */
  async reload(): Promise<boolean> {
    let next: ServingPair;
    try {
      next = await readServingPair(this.certPath, this.keyPath);
      if (next.fingerprint === this.#pair.fingerprint && next.key === this.#pair.key) return false;
      this.#target?.setSecureContext(this.tlsOptions(next));
    } catch (e) {
      this.metrics.certificateReloadFailures.inc();
      this.logger.error(
        { err: e, cert: this.certPath, key: this.keyPath, servingFingerprint: this.#pair.fingerprint },
        'refused the changed certificate/key pair; the previous certificate keeps serving',
      );
      return false;
    }
    const previous = this.#pair;
    this.#pair = next;
    this.metrics.certificateExpiry.set(next.notAfter.getTime() / 1000);
    this.logger.info(
      { cert: this.certPath, notAfter: next.notAfter.toISOString(), fingerprint: next.fingerprint, previousFingerprint: previous.fingerprint },
      'serving certificate reloaded',
    );
    return true;
  }

  /** Starts applying changes to `target` (the HTTPS server) and watching the files. */
  watch(target: CertificateTarget, intervalMs: number): void {
    this.#target = target;
    const paths = [this.certPath, this.keyPath];
    this.#watch = watchForChanges({
      dirs: paths.map((p) => dirname(p)),
      signature: () => filesSignature(paths),
      initialSignature: this.#loadedSignature,
      onChange: async () => {
        await this.reload();
      },
      intervalMs,
      onWatchError: (e) => this.logger.warn({ err: e }, 'cannot watch the certificate folder; relying on polling'),
    });
  }

  /** Compare the files now (tests, and after a signal from outside). */
  async check(): Promise<void> {
    await this.#watch?.check();
  }

  close(): void {
    this.#watch?.close();
  }
}
