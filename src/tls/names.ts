// The four names shared by the certs/ folder and the kubernetes.io/tls Secret (plus ca.crt), so a
// mounted Secret and a generated folder are interchangeable.
export const TLS_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
} as const;
