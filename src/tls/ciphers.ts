// The TLS cipher suites the webhook offers. Node's default list still accepts TLS 1.2 suites
// without forward secrecy (AES128-SHA, AES256-SHA) and with CBC (AES128-SHA256, ECDHE-RSA-AES128-SHA256),
// which scanners flag. The API server's Go client prefers ECDHE with AES-GCM or ChaCha20-Poly1305,
// which is also Mozilla's "intermediate" profile, so that is all we offer for TLS 1.2.
import { createSecureContext } from 'node:tls';

/**
 * Mozilla "intermediate" (v5.7) without its DHE suites (Go's client has none, and DHE needs a
 * parameter file): forward-secret AEAD only. TLS 1.3 suites are listed so that a custom list
 * without them does not leave TLS 1.3 with Node's defaults by accident; all three are AEAD.
 */
export const DEFAULT_CIPHER_SUITES: readonly string[] = Object.freeze([
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
]);

/** The `ciphers` option of node:tls (OpenSSL syntax, colon-separated). */
export function cipherOption(suites: readonly string[]): string {
  return suites.join(':');
}

/**
 * Why OpenSSL refuses a list of suite names, or undefined when it takes every one. Each name is
 * tried alone, so a typo is named rather than silently dropped from an otherwise valid list.
 */
export function cipherSuitesProblem(suites: readonly string[]): string | undefined {
  if (suites.length === 0) return 'the list is empty';
  const unknown = suites.filter((suite) => {
    if (!/^[A-Za-z0-9_-]+$/.test(suite)) return true;
    try {
      // A TLS 1.3 name is accepted on its own; for a TLS 1.2 name OpenSSL fails with "no cipher match".
      createSecureContext({ ciphers: suite });
      return false;
    } catch {
      return true;
    }
  });
  return unknown.length > 0 ? `${unknown.join(', ')} ${unknown.length === 1 ? 'is not a cipher suite' : 'are not cipher suites'} OpenSSL knows` : undefined;
}
