// Which built-in template is proven against which Debian exporter and server, and why the others
// cannot be. Identity matters: a Debian package of the same name may be another project.
import type { V1Container } from '@kubernetes/client-node';
import type { Pod } from '../../src/core/types.js';
import { generateCa, issueServingCertificate } from '../../src/tls/generate.js';
import type { Runnable } from './kubelet.js';
import {
  startApache,
  startBind,
  startHaproxy,
  startLogWriter,
  startMariadb,
  startNamedProcess,
  startNginx,
  startPostgres,
  startRedis,
  startSquid,
  startVarnish,
  type Server,
  type ServerTls,
  type Workspace,
} from './servers.js';

/** What a case hands the runner once its server is up: the example pod's inputs and the world it lives in. */
export interface Fixture {
  /** The application container(s) of the example pod. */
  readonly containers: V1Container[];
  /** `<template>.<param>` annotations besides `port` (the runner sets that one). */
  readonly params: Readonly<Record<string, string>>;
  readonly spec?: Partial<NonNullable<Pod['spec']>>;
  /** Secrets in the pod's namespace: name -> key -> value. */
  readonly secrets?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** ConfigMaps in the pod's namespace: name -> file -> content. */
  readonly configMaps?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Host directories standing in for the pod's own volumes (by volume name). */
  readonly podVolumes?: Readonly<Record<string, string>>;
  readonly servers: readonly Server[];
}

/** A documented difference between the Debian build and the version the template pins. */
export interface VersionGap {
  /** Names the flag or variable, and what each version accepts. */
  readonly difference: string;
  /** How the Debian build reports it when run with the template's rendering. */
  readonly signature: RegExp;
  /** The rendering translated to the Debian build's spelling, to prove everything else. */
  readonly adapt?: (r: Runnable) => Runnable;
  readonly adaptation?: string;
}

export interface ProvableCase {
  readonly kind: 'provable';
  readonly template: string;
  readonly exporter: { readonly package: string; readonly binary: string; readonly homepage: RegExp };
  /** The Debian package of the watched server; absent when the "server" is the pod itself. */
  readonly serverPackage?: string;
  /** PromQL for the exporter's own health series, given the target's label selector; must equal 1. */
  readonly health?: (selector: string) => string;
  /** Set when no real server exists in Debian: only flags, port, path and scraping are proven. */
  readonly flagsOnly?: { readonly why: string; readonly report: (selector: string) => string };
  readonly gap?: VersionGap;
  /** Fixed ports the case's servers bind (template defaults): cases sharing one never run together. */
  readonly ports: readonly number[];
  /** Exporters that wait for their server before listening need longer. */
  readonly listenTimeoutMs?: number;
  /** Tells a further case of the same template apart (the report shows `template (variant)`). */
  readonly variant?: string;
  /**
   * A misconfiguration users will meet, proven to fail the way they will see it: Prometheus finds
   * the exporter, and its log or metrics page matches each of `says` (include the health series at 0).
   */
  readonly expectFailure?: { readonly says: readonly RegExp[]; readonly what: string };
  fixture(ws: Workspace): Promise<Fixture>;
}

export interface UnprovableCase {
  readonly kind: 'unprovable';
  readonly template: string;
  readonly why: string;
}

export type Case = ProvableCase | UnprovableCase;

const SECRET = 'exporter-credentials';
const CA_SECRET = 'server-ca';

/**
 * A CA and a server certificate made by the project's own certificate code. `sans` are the names the
 * certificate covers besides `<service>.<namespace>[.svc[.cluster.local]]`: the exporter dials
 * localhost, so a certificate without it fails verification, as in a cluster.
 */
function serverTls(service: string, sans: readonly string[]): ServerTls {
  const ca = generateCa({ commonName: `${service} conformance CA` });
  const serving = issueServingCertificate(ca, { service, namespace: 'conformance', sans });
  return { cert: serving.cert, key: serving.key, ca: ca.cert };
}

/** Redis with TLS only; the exporter is given the CA by the tls-ca param and dials rediss://localhost. */
function redisTlsCase(variant: string, sans: readonly string[], expectFailure?: ProvableCase['expectFailure'], extra: Readonly<Record<string, string>> = {}): ProvableCase {
  return {
    kind: 'provable',
    template: 'redis',
    variant,
    exporter: { package: 'prometheus-redis-exporter', binary: '/usr/bin/prometheus-redis-exporter', homepage: /github\.com\/oliver006\/redis_exporter/ },
    serverPackage: 'redis-server',
    ports: [6379],
    health: (s) => `redis_up{${s}}`,
    ...(expectFailure ? { expectFailure } : {}),
    async fixture(ws) {
      const password = 'conformance-redis-pw';
      const tls = serverTls('redis', sans);
      const server = await startRedis(ws, 6379, password, tls);
      return {
        containers: [app('redis', 'redis:7.0', 6379)],
        params: { secret: SECRET, target: 'rediss://localhost:6379', 'tls-ca': CA_SECRET, ...extra },
        spec: { securityContext: { fsGroup: 2000 } },
        secrets: { [SECRET]: { password }, [CA_SECRET]: { 'ca.crt': tls.ca } },
        servers: [server],
      };
    },
  };
}

const CNF_SECRET = 'mysqld-exporter-cnf';

/**
 * MariaDB with TLS and a user that must use it (REQUIRE SSL); the exporter reads host, port, user,
 * password and ssl-ca from the my.cnf mounted by the config param, the CA from tls-ca. The same
 * my.cnf keys are read by 0.14 (Debian) and v0.20.0 (the image), so the rendering runs unchanged.
 */
function mysqldCnfCase(variant: string | undefined, sans: readonly string[], expectFailure?: ProvableCase['expectFailure']): ProvableCase {
  return {
    kind: 'provable',
    template: 'mysqld-cnf',
    ...(variant !== undefined ? { variant } : {}),
    exporter: { package: 'prometheus-mysqld-exporter', binary: '/usr/bin/prometheus-mysqld-exporter', homepage: /github\.com\/prometheus\/mysqld_exporter/ },
    serverPackage: 'mariadb-server',
    ports: [3306],
    health: (s) => `mysql_up{${s}} * on() (1 - mysql_exporter_last_scrape_error{${s}})`,
    ...(expectFailure ? { expectFailure } : {}),
    async fixture(ws) {
      const password = 'conformance-my-pw';
      const tls = serverTls('mariadb', sans);
      const server = await startMariadb(ws, 3306, 'exporter', password, tls);
      const myCnf = ['[client]', 'host=127.0.0.1', 'port=3306', 'user=exporter', `password=${password}`, 'ssl-ca=/etc/mysqld-exporter/tls-ca/ca.crt', ''].join('\n');
      return {
        containers: [app('mariadb', 'mariadb:10.11', 3306)],
        params: { config: CNF_SECRET, 'tls-ca': CA_SECRET },
        spec: { securityContext: { fsGroup: 2000 } },
        secrets: { [CNF_SECRET]: { 'my.cnf': myCnf }, [CA_SECRET]: { 'ca.crt': tls.ca } },
        servers: [server],
      };
    },
  };
}

/** PostgreSQL with TLS only (hostssl); the DSN asks for verify-full with the CA mounted by tls-ca. */
function postgresTlsCase(variant: string, sans: readonly string[], expectFailure?: ProvableCase['expectFailure']): ProvableCase {
  return {
    kind: 'provable',
    template: 'postgres',
    variant,
    exporter: { package: 'prometheus-postgres-exporter', binary: '/usr/bin/prometheus-postgres-exporter', homepage: /github\.com\/prometheus-community\/postgres_exporter/ },
    serverPackage: 'postgresql',
    ports: [5432],
    health: (s) => `pg_up{${s}}`,
    ...(expectFailure ? { expectFailure } : {}),
    async fixture(ws) {
      const password = 'conformance-pg-pw';
      const tls = serverTls('postgres', sans);
      const server = await startPostgres(ws, 5432, 'monitor', password, tls);
      return {
        containers: [app('postgres', 'postgres:15', 5432)],
        params: {
          secret: SECRET,
          target: 'localhost:5432/postgres?sslmode=verify-full&sslrootcert=/etc/postgres-exporter/tls-ca/ca.crt',
          'tls-ca': CA_SECRET,
        },
        spec: { securityContext: { fsGroup: 2000 } },
        secrets: { [SECRET]: { username: 'monitor', password }, [CA_SECRET]: { 'ca.crt': tls.ca } },
        servers: [server],
      };
    },
  };
}

/** Go's crypto/x509 text for a certificate that does not name the dialled host. */
const NOT_LOCALHOST = /x509: certificate is valid for [^\n]*, not localhost/;
/** Go's crypto/x509 text for a certificate without the IP address dialled. */
const NOT_127 = /x509: cannot validate certificate for 127\.0\.0\.1 because it doesn't contain any IP SANs/;
const app = (name: string, image: string, port?: number): V1Container => ({
  name,
  image,
  ...(port !== undefined ? { ports: [{ name: name.slice(0, 15), containerPort: port, protocol: 'TCP' }] } : {}),
});

export const CASES: readonly Case[] = [
  {
    kind: 'provable',
    template: 'redis',
    exporter: { package: 'prometheus-redis-exporter', binary: '/usr/bin/prometheus-redis-exporter', homepage: /github\.com\/oliver006\/redis_exporter/ },
    serverPackage: 'redis-server',
    ports: [6379],
    health: (s) => `redis_up{${s}}`,
    async fixture(ws) {
      const password = 'conformance-redis-pw';
      const server = await startRedis(ws, 6379, password);
      return {
        containers: [app('redis', 'redis:7.0', 6379)],
        params: { secret: SECRET },
        // Only the password: the optional username key is absent, as for a requirepass deployment.
        secrets: { [SECRET]: { password } },
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'postgres',
    exporter: { package: 'prometheus-postgres-exporter', binary: '/usr/bin/prometheus-postgres-exporter', homepage: /github\.com\/prometheus-community\/postgres_exporter/ },
    serverPackage: 'postgresql',
    ports: [5432],
    health: (s) => `pg_up{${s}}`,
    async fixture(ws) {
      const password = 'conformance-pg-pw';
      const server = await startPostgres(ws, 5432, 'monitor', password);
      return {
        containers: [app('postgres', 'postgres:15', 5432)],
        params: { secret: SECRET },
        secrets: { [SECRET]: { username: 'monitor', password } },
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'mysqld',
    exporter: { package: 'prometheus-mysqld-exporter', binary: '/usr/bin/prometheus-mysqld-exporter', homepage: /github\.com\/prometheus\/mysqld_exporter/ },
    serverPackage: 'mariadb-server',
    ports: [3306],
    // Every collector succeeded too: a missing grant shows as mysql_exporter_last_scrape_error 1.
    health: (s) => `mysql_up{${s}} * on() (1 - mysql_exporter_last_scrape_error{${s}})`,
    gap: {
      difference:
        'the template uses --mysqld.address, --mysqld.username and MYSQLD_EXPORTER_PASSWORD (mysqld_exporter v0.15.0 and later); Debian 0.14.0 knows only DATA_SOURCE_NAME (removed in v0.15.0) or --config.my-cnf. Only a mounted my.cnf works in both: the mysqld-cnf template (docs/templates.md)',
      signature: /unknown long flag '--mysqld\.(address|username)'/,
      adaptation: '--mysqld.address/--mysqld.username/MYSQLD_EXPORTER_PASSWORD rewritten to the 0.14 DATA_SOURCE_NAME',
      adapt(r) {
        const flag = (name: string) => r.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
        const address = flag('mysqld.address') ?? 'localhost:3306';
        const user = flag('mysqld.username') ?? '';
        const env = new Map(r.env);
        env.set('DATA_SOURCE_NAME', `${user}:${env.get('MYSQLD_EXPORTER_PASSWORD') ?? ''}@tcp(${address})/`);
        return { ...r, env, args: r.args.filter((a) => !a.startsWith('--mysqld.address=') && !a.startsWith('--mysqld.username=')) };
      },
    },
    async fixture(ws) {
      const password = 'conformance-my-pw';
      const server = await startMariadb(ws, 3306, 'exporter', password);
      return {
        containers: [app('mariadb', 'mariadb:10.11', 3306)],
        params: { secret: SECRET },
        secrets: { [SECRET]: { username: 'exporter', password } },
        servers: [server],
      };
    },
  },
  // The main mysqld-cnf case is TLS: what the template is for. Debian's 0.14 reads the same my.cnf.
  mysqldCnfCase(undefined, ['localhost', '127.0.0.1']),
  // The my.cnf dials 127.0.0.1: Go verifies that address against the certificate's IP SANs.
  mysqldCnfCase('TLS, certificate without 127.0.0.1', ['localhost'], { says: [/^mysql_up 0$/m, NOT_127], what: 'the certificate does not cover 127.0.0.1, the host in the my.cnf' }),
  redisTlsCase('TLS, CA from a Secret', ['localhost', '127.0.0.1']),
  // redis_exporter falls back to a plain dial when DialURL fails, so its metrics report the
  // fallback's error; the TLS error is logged at debug level only (docs/templates.md says so).
  redisTlsCase(
    'TLS, certificate without localhost',
    [],
    { says: [/^redis_up 0$/m, /redis_exporter_last_scrape_error\{err="dial rediss: unknown network rediss"\} 1/, NOT_LOCALHOST], what: 'the certificate does not cover localhost' },
    { args: '--debug' },
  ),
  postgresTlsCase('TLS verify-full, CA from a Secret', ['localhost', '127.0.0.1']),
  postgresTlsCase('TLS verify-full, certificate without localhost', [], { says: [/^pg_up 0$/m, NOT_LOCALHOST], what: 'the certificate does not cover localhost' }),
  {
    kind: 'provable',
    template: 'nginx',
    exporter: { package: 'prometheus-nginx-exporter', binary: '/usr/bin/prometheus-nginx-exporter', homepage: /github\.com\/(nginxinc|nginx)\/nginx-prometheus-exporter/ },
    serverPackage: 'nginx',
    ports: [8080],
    health: (s) => `nginx_up{${s}}`,
    async fixture(ws) {
      const server = await startNginx(ws, 8080);
      return {
        containers: [app('nginx', 'nginx:1.22', 8080)],
        params: {},
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'apache',
    exporter: { package: 'prometheus-apache-exporter', binary: '/usr/bin/prometheus-apache-exporter', homepage: /github\.com\/Lusitaniae\/apache_exporter/ },
    serverPackage: 'apache2',
    ports: [80],
    health: (s) => `apache_up{${s}}`,
    async fixture(ws) {
      const server = await startApache(ws, 80);
      return {
        containers: [app('httpd', 'httpd:2.4', 80)],
        params: {},
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'haproxy',
    exporter: { package: 'prometheus-haproxy-exporter', binary: '/usr/bin/prometheus-haproxy-exporter', homepage: /github\.com\/prometheus\/haproxy_exporter/ },
    serverPackage: 'haproxy',
    ports: [80],
    health: (s) => `haproxy_up{${s}}`,
    async fixture(ws) {
      const server = await startHaproxy(ws, 80);
      return {
        containers: [app('haproxy', 'haproxy:2.6', 80)],
        params: {},
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'bind',
    exporter: { package: 'prometheus-bind-exporter', binary: '/usr/bin/prometheus-bind-exporter', homepage: /github\.com\/prometheus-community\/bind_exporter/ },
    serverPackage: 'bind9',
    ports: [53, 8053],
    health: (s) => `bind_up{${s}}`,
    async fixture(ws) {
      const server = await startBind(ws, 53, 8053);
      return {
        containers: [app('bind', 'internetsystemsconsortium/bind9:9.18', 53)],
        params: {},
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'process',
    exporter: { package: 'prometheus-process-exporter', binary: '/usr/bin/prometheus-process-exporter', homepage: /github\.com\/ncabatoff\/process-exporter/ },
    ports: [],
    health: (s) => `namedprocess_namegroup_num_procs{${s},groupname="eiconf-app"}`,
    async fixture(ws) {
      const server = await startNamedProcess(ws, 'eiconf-app');
      return {
        containers: [app('app', 'registry.example.com/eiconf-app:1')],
        params: { names: 'eiconf-app' },
        spec: { shareProcessNamespace: true },
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'mtail',
    exporter: { package: 'mtail', binary: '/usr/bin/mtail', homepage: /github\.com\/google\/mtail/ },
    ports: [],
    // Counts the lines the program matched; present and above zero means the logs volume, the
    // progs ConfigMap and the program all reached mtail.
    health: (s) => `count(eiconf_requests_total{${s}} > 0)`,
    async fixture(ws) {
      const logs = await ws.dir('mtail-logs');
      const writer = await startLogWriter(logs, 'access.log');
      return {
        containers: [{ ...app('web', 'registry.example.com/web:1', 8080), volumeMounts: [{ name: 'logs', mountPath: '/var/log/web' }] }],
        params: { logs: 'logs', progs: 'mtail-progs' },
        spec: { volumes: [{ name: 'logs', emptyDir: {} }] },
        configMaps: {
          'mtail-progs': { 'access.mtail': 'counter eiconf_requests_total\n\n/"GET [^"]*" 200 / {\n  eiconf_requests_total++\n}\n' },
        },
        podVolumes: { logs },
        servers: [writer],
      };
    },
  },
  {
    kind: 'provable',
    template: 'elasticsearch',
    exporter: { package: 'prometheus-elasticsearch-exporter', binary: '/usr/bin/prometheus-elasticsearch-exporter', homepage: /github\.com\/prometheus-community\/elasticsearch_exporter/ },
    flagsOnly: {
      why: 'no Elasticsearch server in Debian',
      report: (s) => `elasticsearch_cluster_health_up{${s}}`,
    },
    // Nothing listens on the default target (localhost:9200): the exporter must still start, serve
    // and report the cluster as down.
    ports: [9200],
    // 1.5.0 waits up to 10 s for its first cluster-info call before it listens.
    listenTimeoutMs: 30_000,
    async fixture() {
      return {
        containers: [app('app', 'registry.example.com/search-app:1', 8080)],
        params: { secret: SECRET },
        secrets: { [SECRET]: { username: 'monitor', password: 'conformance-es-pw' } },
        servers: [],
      };
    },
  },
  {
    kind: 'provable',
    template: 'varnish',
    exporter: { package: 'prometheus-varnish-exporter', binary: '/usr/bin/prometheus-varnish-exporter', homepage: /github\.com\/(jonnenauha|otto-de)\/prometheus_varnish_exporter/ },
    serverPackage: 'varnish',
    ports: [],
    // 1 only when varnishstat read varnishd's VSM through the shared, read-only volume.
    health: (s) => `varnish_up{${s}}`,
    async fixture(ws) {
      const workdir = await ws.dir('varnish-workdir');
      // The uid the template runs the exporter as is the one the official image runs varnishd as.
      const server = await startVarnish(ws, workdir, 1000);
      return {
        containers: [{ ...app('varnish', 'varnish:7.7.3', 80), volumeMounts: [{ name: 'varnish-workdir', mountPath: '/var/lib/varnish' }] }],
        params: { workdir: 'varnish-workdir' },
        spec: { volumes: [{ name: 'varnish-workdir', emptyDir: {} }] },
        podVolumes: { 'varnish-workdir': workdir },
        servers: [server],
      };
    },
  },
  {
    kind: 'provable',
    template: 'squid',
    exporter: { package: 'prometheus-squid-exporter', binary: '/usr/bin/prometheus-squid-exporter', homepage: /github\.com\/boynux\/squid-exporter/ },
    serverPackage: 'squid',
    ports: [3128],
    health: (s) => `squid_up{${s}}`,
    async fixture(ws) {
      const server = await startSquid(ws, 3128);
      return {
        containers: [app('squid', 'ubuntu/squid:5.7-22.10_beta', 3128)],
        params: {},
        servers: [server],
      };
    },
  },
  { kind: 'unprovable', template: 'consul', why: 'no consul_exporter in Debian 12 (prometheus-consul-exporter does not exist)' },
  { kind: 'unprovable', template: 'dnsmasq', why: 'k8s-dns-sidecar (kubernetes/dns) is not packaged in Debian' },
  { kind: 'unprovable', template: 'graphite', why: 'no graphite_exporter in Debian 12 (prometheus-graphite-exporter does not exist)' },
  { kind: 'unprovable', template: 'json', why: 'no json_exporter in Debian 12' },
  {
    kind: 'unprovable',
    template: 'jmx',
    why: 'jmx_exporter is not packaged in Debian 12 (upstream publishes jars only; no prometheus-jmx-exporter or jmx-exporter package)',
  },
  { kind: 'unprovable', template: 'memcached', why: 'no memcached_exporter in Debian 12 (prometheus-memcached-exporter does not exist)' },
  {
    kind: 'unprovable',
    template: 'mongodb',
    why: "Debian's prometheus-mongodb-exporter is dcu/mongodb_exporter (2018 snapshot), not percona/mongodb_exporter; and no MongoDB server in Debian",
  },
  { kind: 'unprovable', template: 'nats', why: 'no prometheus-nats-exporter in Debian 12' },
  {
    kind: 'unprovable',
    template: 'pgbouncer',
    why: "Debian's prometheus-pgbouncer-exporter is a different project (cbaines' Python exporter), not prometheus-community/pgbouncer_exporter",
  },
  { kind: 'unprovable', template: 'php-fpm', why: 'no php-fpm_exporter in Debian 12' },
  {
    kind: 'unprovable',
    template: 'sql',
    why: "Debian's prometheus-sql-exporter is justwatchcom/sql_exporter, not burningalchemist/sql_exporter",
  },
  { kind: 'unprovable', template: 'statsd', why: 'no statsd_exporter in Debian 12 (prometheus-statsd-exporter does not exist)' },
  { kind: 'unprovable', template: 'uwsgi', why: 'no uwsgi_exporter in Debian 12' },
];
