// `exporter-injector certs`: a CA and a serving certificate for the webhook Service, written into a
// folder or printed as a kubernetes.io/tls Secret.
import { X509Certificate } from 'node:crypto';
import { isDnsSubdomain } from '../../core/values.js';
import { InjectorError } from '../../errors.js';
import {
  DEFAULT_CA_DAYS,
  DEFAULT_KEY_SIZE,
  DEFAULT_SERVING_DAYS,
  DEV_SANS,
  KEY_SIZES,
  MAX_DAYS,
  generateCa,
  issueServingCertificate,
  namespaceProblem,
  sanProblem,
  serviceNameProblem,
  type KeySize,
  type PemPair,
} from '../../tls/generate.js';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE, conflictingFiles, readCaPair, writeBundle } from '../../tls/files.js';
import { DEFAULT_SECRET_NAME, secretManifest } from '../../tls/secret.js';
import { type CommandSpec, type FlagValues } from '../../config/flags.js';
import { defineCommand } from '../command.js';
import { EXIT } from '../io.js';
import { toYaml } from '../yaml-output.js';

const DEFAULT_OUT = 'certs';

const SPEC = {
  name: 'certs',
  summary: 'create a CA and a serving certificate (files or a Secret manifest)',
  usage: '[flags]',
  description: [
    'Creates a CA and a serving certificate for the webhook Service, signed by that CA, with the SANs',
    '<service>, <service>.<namespace>, <service>.<namespace>.svc and',
    '<service>.<namespace>.svc.cluster.local. Writes ca.crt, ca.key, tls.crt and tls.key into --out',
    '(keys with mode 0600), or prints a kubernetes.io/tls Secret with --secret.',
    '',
    'Keys are RSA: node-forge, which builds the certificates, cannot make ECDSA certificates.',
  ].join('\n'),
  flags: {
    service: { type: 'string', value: 'NAME', help: `Service name (default ${DEFAULT_SERVICE})` },
    namespace: { type: 'string', value: 'NAME', help: `namespace of the Service (default ${DEFAULT_NAMESPACE})` },
    out: { type: 'string', value: 'DIR', help: `folder to write into, created if missing (default ${DEFAULT_OUT})` },
    days: { type: 'string', value: 'N', help: `validity of the serving certificate in days (default ${DEFAULT_SERVING_DAYS})` },
    'ca-days': { type: 'string', value: 'N', help: `validity of a new CA in days (default ${DEFAULT_CA_DAYS})` },
    'key-size': { type: 'string', value: 'BITS', help: `RSA key size: ${KEY_SIZES.join(', ')} (default ${DEFAULT_KEY_SIZE})` },
    san: { type: 'string', value: 'NAME|IP', multiple: true, help: 'extra subject alternative name; IPv4/IPv6 addresses become IP SANs' },
    dev: { type: 'boolean', help: `add ${DEV_SANS.join(', ')} (for serve --dev on this machine)` },
    'ca-cert': { type: 'string', value: 'FILE', help: 'existing CA certificate (RSA) to sign with, instead of making a new CA' },
    'ca-key': { type: 'string', value: 'FILE', help: "that CA's private key; ca.crt is copied to --out, the CA key is not" },
    secret: { type: 'boolean', help: 'print a kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) instead of writing files' },
    'secret-name': { type: 'string', value: 'NAME', help: `name of that Secret (default ${DEFAULT_SECRET_NAME})` },
    force: { type: 'boolean', help: 'overwrite existing files in --out' },
  },
  examples: [
    'exporter-injector certs --dev',
    'exporter-injector certs --secret | kubectl apply -f -',
    'exporter-injector certs --ca-cert certs/ca.crt --ca-key certs/ca.key --force   # renew only the serving pair',
  ],
} as const satisfies CommandSpec;

interface CertsRequest {
  service: string;
  namespace: string;
  out: string;
  days: number;
  caDays: number;
  keySize: KeySize;
  sans: string[];
  ca?: { certPath: string; keyPath: string };
  secretName?: string;
  force: boolean;
}

export const certs = defineCommand(SPEC, async ({ values }, io) => {
  const request = toRequest(values);

  const ca: PemPair = request.ca ? await readCaPair(request.ca.certPath, request.ca.keyPath) : generateCa({ days: request.caDays, keySize: request.keySize });
  const serving = issueServingCertificate(ca, {
    service: request.service,
    namespace: request.namespace,
    sans: request.sans,
    days: request.days,
    keySize: request.keySize,
  });
  const notes = [
    describe('CA', ca.cert, request.ca ? `from ${request.ca.certPath}` : 'new'),
    describe('serving certificate', serving.cert, `SANs ${[...serving.dnsNames, ...serving.ipAddresses].join(', ')}`),
  ];
  if (serving.limitedByCa) notes.push(`note: the serving certificate expires with its CA, sooner than the ${request.days} days asked`);

  if (request.secretName !== undefined) {
    io.stdout(toYaml(secretManifest({ name: request.secretName, namespace: request.namespace, caCert: ca.cert, cert: serving.cert, key: serving.key })));
    // stdout carries only the manifest, so it can be piped to kubectl.
    io.stderr(notes.map((n) => `${n}\n`).join(''));
    if (!request.ca) io.stderr('note: the new CA key was not kept; a renewal makes a new CA, so register again to update the caBundle\n');
    return EXIT.OK;
  }

  const contents = { caCert: ca.cert, ...(request.ca ? {} : { caKey: ca.key }), cert: serving.cert, key: serving.key };
  if (!request.force) {
    const conflicts = await conflictingFiles(request.out, contents);
    if (conflicts.length > 0) {
      throw new InjectorError('EI_ERR_USAGE', `${conflicts.join(', ')} already exist${conflicts.length === 1 ? 's' : ''}; pass --force to overwrite, or choose another --out`);
    }
  }
  const written = await writeBundle(request.out, contents);
  io.stdout(written.map((w) => `wrote ${w.path} (mode ${w.mode.toString(8).padStart(4, '0')})\n`).join('') + notes.map((n) => `${n}\n`).join(''));
  return EXIT.OK;
});

function toRequest(values: FlagValues<typeof SPEC.flags>): CertsRequest {
  const service = values.service ?? DEFAULT_SERVICE;
  const namespace = values.namespace ?? DEFAULT_NAMESPACE;
  usageCheck(serviceNameProblem(service), '--service', service);
  usageCheck(namespaceProblem(namespace), '--namespace', namespace);
  const sans = [...(values.dev ? DEV_SANS : []), ...values.san];
  for (const san of values.san) usageCheck(sanProblem(san), '--san', san);

  if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined)) {
    throw new InjectorError('EI_ERR_USAGE', `--ca-cert and --ca-key go together; give both to sign with an existing CA, or neither to make a new one`);
  }
  if (values['ca-cert'] !== undefined && values['ca-days'] !== undefined) {
    throw new InjectorError('EI_ERR_USAGE', `--ca-days sets the validity of a new CA and cannot be used with --ca-cert`);
  }
  if (values.secret) {
    for (const flag of ['out', 'force'] as const) {
      if (values[flag] !== undefined && values[flag] !== false) throw new InjectorError('EI_ERR_USAGE', `--${flag} applies to files and cannot be used with --secret, which prints the Secret instead`);
    }
    if (values['secret-name'] !== undefined) usageCheck(secretNameProblem(values['secret-name']), '--secret-name', values['secret-name']);
  } else if (values['secret-name'] !== undefined) {
    throw new InjectorError('EI_ERR_USAGE', `--secret-name needs --secret`);
  }

  const keySize = Number(values['key-size'] ?? DEFAULT_KEY_SIZE);
  if (!(KEY_SIZES as readonly number[]).includes(keySize)) {
    throw new InjectorError('EI_ERR_USAGE', `--key-size "${values['key-size']}" is invalid; valid: ${KEY_SIZES.join(', ')} (RSA bits; node-forge cannot make ECDSA certificates)`);
  }
  return {
    service,
    namespace,
    out: values.out ?? DEFAULT_OUT,
    days: days(values.days, '--days', DEFAULT_SERVING_DAYS),
    caDays: days(values['ca-days'], '--ca-days', DEFAULT_CA_DAYS),
    keySize: keySize as KeySize,
    sans,
    ...(values['ca-cert'] !== undefined && values['ca-key'] !== undefined ? { ca: { certPath: values['ca-cert'], keyPath: values['ca-key'] } } : {}),
    ...(values.secret ? { secretName: values['secret-name'] ?? DEFAULT_SECRET_NAME } : {}),
    force: values.force ?? false,
  };
}

function days(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) {
    throw new InjectorError('EI_ERR_USAGE', `${flag} "${raw}" is invalid; valid: a whole number of days from 1 to ${MAX_DAYS}`);
  }
  return n;
}

function secretNameProblem(name: string): string | undefined {
  return isDnsSubdomain(name)
    ? undefined
    : 'a Secret name is a DNS-1123 subdomain: lower-case letters, digits, "-" and ".", at most 253 characters';
}

function usageCheck(problem: string | undefined, flag: string, value: string): void {
  if (problem !== undefined) throw new InjectorError('EI_ERR_USAGE', `${flag} "${value}" is invalid; ${problem}`);
}

function describe(what: string, pem: string, detail: string): string {
  const x509 = new X509Certificate(pem);
  return `${what}: ${x509.subject.trim().replace(/\n/g, ', ')} (${detail}); expires ${new Date(x509.validTo).toISOString()}; SHA-256 ${x509.fingerprint256}`;
}
