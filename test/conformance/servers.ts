// Step 3: the real servers the exporters watch, each configured as a typical deployment would be,
// bound to loopback on the port the case asks for (the suite runs in its own network namespace, so
// that can be the port the template's default target names), with its own temporary data
// directory, started as its system user where it refuses root. Never through systemd.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, retry, runOk, start, stop, waitForPort, type Started } from './procs.js';

/** A temporary tree for one suite run; every directory in it is removed at the end. */
export class Workspace {
  private constructor(readonly root: string) {}

  static async create(): Promise<Workspace> {
    const root = await mkdtemp(join(tmpdir(), 'ei-conformance-'));
    // Servers and exporters run as other users (postgres, mysql, 65534, ...) and must reach their dirs.
    await chmod(root, 0o755);
    return new Workspace(root);
  }

  async dir(name: string, owner?: string): Promise<string> {
    const path = join(this.root, name);
    await mkdir(path, { recursive: true, mode: 0o755 });
    await chmod(path, 0o755);
    if (owner !== undefined) await runOk(`chown ${name}`, 'chown', [`${owner}:${owner}`, path], 10_000);
    return path;
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

export interface Server {
  readonly port: number;
  /** One line for the report: what runs and how it is configured. */
  readonly summary: string;
  stop(): Promise<void>;
}

/** `setpriv` as the given system user: what `runuser` does, without a fork in between. */
function asUser(user: string, command: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', command, ...args]];
}

/** A server that started but could not be set up is stopped before the error goes on. */
async function stopOnFailure(proc: Started, setup: () => Promise<void>): Promise<void> {
  try {
    await setup();
  } catch (err) {
    await stop(proc);
    throw err;
  }
}

const serverStop = (...procs: Started[]) => async () => {
  for (const p of procs) await stop(p);
};

/** A server's TLS files (PEM): its certificate and key, and the CA that signed it. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Writes the TLS files into `dir`, owned by the server's user, the key readable by it only. */
async function writeServerTls(dir: string, user: string, tls: ServerTls): Promise<{ cert: string; key: string; ca: string }> {
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
  await writeFile(files.cert, tls.cert, { mode: 0o644 });
  await writeFile(files.ca, tls.ca, { mode: 0o644 });
  await writeFile(files.key, tls.key, { mode: 0o600 });
  await runOk(`chown ${user} TLS files`, 'chown', [`${user}:${user}`, files.cert, files.key, files.ca], 10_000);
  return files;
}

export async function startRedis(ws: Workspace, port: number, password: string, tls?: ServerTls): Promise<Server> {
  // Several cases start Redis in one workspace (plain, TLS, two exporters): each its own directory.
  const dir = await ws.dir(`redis-${randomUUID().slice(0, 8)}`, 'redis');
  // With TLS the plain port is off: only TLS clients get in. Client certificates are not asked for
  // (tls-auth-clients no), as when the exporter is given only the CA.
  const files = tls ? await writeServerTls(dir, 'redis', tls) : undefined;
  const listen = files
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', files.cert, '--tls-key-file', files.key, '--tls-ca-cert-file', files.ca, '--tls-auth-clients', 'no']
    : ['--port', String(port)];
  const proc = start('redis-server', ...asUser('redis', '/usr/bin/redis-server', [
    '--bind', '127.0.0.1',
    ...listen,
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--protected-mode', 'yes',
    '--requirepass', password,
  ]));
  await stopOnFailure(proc, () => waitForPort(port, proc, 15_000));
  return { port, summary: `redis-server on 127.0.0.1:${port}, requirepass${tls ? ', TLS only (tls-port, no plain port, client certificates not required)' : ''}`, stop: serverStop(proc) };
}

function postgresBin(): string {
  const versions = execFileSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).split('\n').filter((v) => /^\d+$/.test(v));
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('no PostgreSQL server under /usr/lib/postgresql (run test/conformance/setup.sh)');
  return `/usr/lib/postgresql/${newest}/bin`;
}

export async function startPostgres(ws: Workspace, port: number, role: string, password: string, tls?: ServerTls): Promise<Server> {
  const bin = postgresBin();
  const dir = await ws.dir(`postgres-${randomUUID().slice(0, 8)}`, 'postgres');
  const files = tls ? await writeServerTls(dir, 'postgres', tls) : undefined;
  // With TLS, pg_hba accepts TCP connections only over TLS (hostssl), so a client that falls back
  // to plain text is refused.
  const ssl = files ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${files.cert}`, '-c', `ssl_key_file=${files.key}`, '-c', `hba_file=${join(dir, 'pg_hba.conf')}`] : [];
  const data = join(dir, 'data');
  await runOk('initdb', ...asUser('postgres', `${bin}/initdb`, ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '--no-instructions']), 30_000);
  if (files) {
    await writeFile(join(dir, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all ::1/128 scram-sha-256\n', { mode: 0o644 });
  }
  const proc = start('postgres', ...asUser('postgres', `${bin}/postgres`, [
    '-D', data,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${dir}`,
    '-c', 'fsync=off',
    ...ssl,
  ]));
  // The monitoring role the postgres_exporter README asks for: a login with pg_monitor, no superuser.
  const sql = `CREATE ROLE ${role} LOGIN PASSWORD '${password}'; GRANT pg_monitor TO ${role};`;
  await stopOnFailure(proc, async () => {
    await waitForPort(port, proc, 30_000);
    await retry('create the monitoring role', 15_000, () =>
      runOk('psql', ...asUser('postgres', '/usr/bin/psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql]), 10_000),
    );
  });
  return { port, summary: `PostgreSQL on 127.0.0.1:${port}, ${tls ? 'TLS only (hostssl), ' : ''}scram-sha-256, role ${role} with pg_monitor`, stop: serverStop(proc) };
}

export async function startMariadb(ws: Workspace, port: number, user: string, password: string, tls?: ServerTls): Promise<Server> {
  // Several cases start MariaDB in one workspace (plain, TLS): each its own directory.
  const dir = await ws.dir(`mariadb-${randomUUID().slice(0, 8)}`, 'mysql');
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const files = tls ? await writeServerTls(dir, 'mysql', tls) : undefined;
  const ssl = files ? [`--ssl-ca=${files.ca}`, `--ssl-cert=${files.cert}`, `--ssl-key=${files.key}`] : [];
  await runOk('mariadb-install-db', 'mariadb-install-db', ['--no-defaults', '--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', '--skip-name-resolve'], 60_000);
  const proc = start('mariadbd', 'mariadbd', [
    '--no-defaults',
    '--user=mysql',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-name-resolve',
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--skip-log-bin',
    '--innodb-buffer-pool-size=16M',
    ...ssl,
  ]);
  // The grants and connection limit the mysqld_exporter README recommends, plus SLAVE MONITOR:
  // since MariaDB 10.5.9 REPLICATION CLIENT no longer allows SHOW SLAVE STATUS, which the default
  // slave_status collector runs (without it mysql_exporter_last_scrape_error is 1). With TLS the
  // user must connect over TLS (REQUIRE SSL), so a client that falls back to plain text is refused.
  const sql = `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'${files ? ' REQUIRE SSL' : ''} WITH MAX_USER_CONNECTIONS 3; GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT ON *.* TO '${user}'@'127.0.0.1';`;
  await stopOnFailure(proc, async () => {
    await waitForPort(port, proc, 60_000);
    await retry('create the exporter user', 20_000, () => runOk('mariadb', 'mariadb', ['--no-defaults', '-S', socket, '-u', 'root', '-e', sql], 10_000));
  });
  return { port, summary: `MariaDB on 127.0.0.1:${port}, ${files ? 'TLS (ssl-ca/ssl-cert/ssl-key), user REQUIRE SSL, ' : ''}user ${user} with PROCESS, REPLICATION CLIENT, SLAVE MONITOR, SELECT`, stop: serverStop(proc) };
}

export async function startNginx(ws: Workspace, port: number): Promise<Server> {
  const dir = await ws.dir('nginx');
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  await writeFile(join(dir, 'nginx.conf'), `daemon off;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  ${temp('client_body')}
  ${temp('proxy')}
  ${temp('fastcgi')}
  ${temp('uwsgi')}
  ${temp('scgi')}
  server {
    listen 127.0.0.1:${port};
    location / { return 200 "ok\\n"; }
    location = /stub_status { stub_status; allow 127.0.0.1; deny all; }
  }
}
`);
  const proc = start('nginx', '/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', 'stderr']);
  await stopOnFailure(proc, () => waitForPort(port, proc, 15_000));
  return { port, summary: `nginx on 127.0.0.1:${port}, stub_status at /stub_status (allow 127.0.0.1)`, stop: serverStop(proc) };
}

export async function startApache(ws: Workspace, port: number): Promise<Server> {
  const dir = await ws.dir('apache');
  const modules = '/usr/lib/apache2/modules';
  await writeFile(join(dir, 'httpd.conf'), `ServerRoot /etc/apache2
ServerName localhost
LoadModule mpm_event_module ${modules}/mod_mpm_event.so
LoadModule authz_core_module ${modules}/mod_authz_core.so
LoadModule authz_host_module ${modules}/mod_authz_host.so
LoadModule status_module ${modules}/mod_status.so
Listen 127.0.0.1:${port}
PidFile ${join(dir, 'httpd.pid')}
DefaultRuntimeDir ${dir}
ErrorLog ${join(dir, 'error.log')}
User www-data
Group www-data
DocumentRoot ${dir}
ExtendedStatus On
<Location "/server-status">
  SetHandler server-status
  Require local
</Location>
`);
  const proc = start('apache2', '/usr/sbin/apache2', ['-f', join(dir, 'httpd.conf'), '-DFOREGROUND']);
  await stopOnFailure(proc, () => waitForPort(port, proc, 15_000));
  return { port, summary: `Apache httpd (event MPM) on 127.0.0.1:${port}, mod_status at /server-status, ExtendedStatus On`, stop: serverStop(proc) };
}

export async function startHaproxy(ws: Workspace, port: number): Promise<Server> {
  const dir = await ws.dir('haproxy');
  const webPort = await freePort();
  const appPort = await freePort();
  await writeFile(join(dir, 'haproxy.cfg'), `global
  log stderr format raw local0 err
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend stats
  bind 127.0.0.1:${port}
  stats enable
  stats uri /
  stats refresh 10s
frontend web
  bind 127.0.0.1:${webPort}
  default_backend app
backend app
  server app1 127.0.0.1:${appPort}
`);
  const proc = start('haproxy', '/usr/sbin/haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db']);
  await stopOnFailure(proc, () => waitForPort(port, proc, 15_000));
  return { port, summary: `HAProxy on 127.0.0.1:${port}, stats page at / (CSV at /;csv), one frontend and backend`, stop: serverStop(proc) };
}

export async function startBind(ws: Workspace, dnsPort: number, statsPort: number): Promise<Server> {
  const dir = await ws.dir('bind');
  await writeFile(join(dir, 'conformance.test.zone'), `$TTL 300
@ IN SOA ns.conformance.test. hostmaster.conformance.test. 1 3600 600 86400 300
@ IN NS ns.conformance.test.
ns IN A 127.0.0.1
www IN A 127.0.0.1
`);
  await writeFile(join(dir, 'named.conf'), `options {
  directory "${dir}";
  pid-file "${join(dir, 'named.pid')}";
  session-keyfile "${join(dir, 'session.key')}";
  listen-on port ${dnsPort} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
};
controls { };
statistics-channels { inet 127.0.0.1 port ${statsPort} allow { 127.0.0.1; }; };
zone "conformance.test" { type primary; file "${join(dir, 'conformance.test.zone')}"; };
`);
  const proc = start('named', '/usr/sbin/named', ['-f', '-c', join(dir, 'named.conf')]);
  await stopOnFailure(proc, () => waitForPort(statsPort, proc, 20_000));
  return { port: statsPort, summary: `BIND named on 127.0.0.1:${dnsPort} (zone conformance.test), statistics-channels on 127.0.0.1:${statsPort}`, stop: serverStop(proc) };
}

/** The pod's application for process-exporter: a long-lived process whose comm is `name`. */
export async function startNamedProcess(ws: Workspace, name: string): Promise<Server> {
  const dir = await ws.dir('app');
  const link = join(dir, name);
  // comm is the basename of the path executed, so a link gives /bin/sleep a name of our choosing.
  await symlink('/bin/sleep', link);
  const proc = start(name, link, ['3600']);
  await stopOnFailure(proc, () => retry(`${name} running`, 5_000, async () => {
    if (proc.exit() !== null) throw new Error(`${name} exited: ${proc.output()}`);
    const pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
    const comms = await Promise.all(pids.map((p) => readFile(`/proc/${p}/comm`, 'utf8').catch(() => '')));
    if (!comms.some((c) => c.trim() === name)) throw new Error(`no process named ${name} yet`);
  }));
  return { port: 0, summary: `a process named ${name} in the shared process namespace`, stop: serverStop(proc) };
}

/** The application side of mtail: a log file that keeps receiving access-log lines. */
export async function startLogWriter(dir: string, file: string): Promise<Server> {
  const path = join(dir, file);
  await writeFile(path, '', { mode: 0o644 });
  await chmod(path, 0o644);
  let n = 0;
  // mtail reads lines appended after it opened the file, so lines keep coming while the case runs.
  const timer = setInterval(() => {
    n += 1;
    appendFile(path, `127.0.0.1 - - "GET /item/${n} HTTP/1.1" 200 12\n`).catch(() => undefined);
  }, 300);
  return {
    port: 0,
    summary: `an access log ${file} on the pod's log volume, one line every 300 ms`,
    stop: async () => clearInterval(timer),
  };
}

/**
 * varnishd as the official varnish image runs it: as uid 1000 (USER varnish), without a jail, its
 * working directory on the volume the exporter shares (here `workdir`, standing in for the pod's
 * emptyDir mounted at /var/lib/varnish), as `<workdir>/varnishd`, the image's -n.
 */
export async function startVarnish(ws: Workspace, workdir: string, uid: number): Promise<Server> {
  await runOk('chown varnish workdir', 'chown', [`${uid}:${uid}`, workdir], 10_000);
  const port = await freePort();
  const backend = await freePort();
  const instance = join(workdir, 'varnishd');
  const proc = start('varnishd', 'setpriv', [
    `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--',
    '/usr/sbin/varnishd',
    '-F',
    '-j', 'none',
    '-n', instance,
    '-a', `127.0.0.1:${port}`,
    '-T', '127.0.0.1:0',
    '-b', `127.0.0.1:${backend}`,
    '-s', 'malloc,16m',
  ]);
  // varnishd compiles its VCL with cc before the child listens.
  await stopOnFailure(proc, () => waitForPort(port, proc, 60_000));
  return { port, summary: `varnishd on 127.0.0.1:${port} as uid ${uid}, -j none, -n <workdir>/varnishd on the shared volume`, stop: serverStop(proc) };
}

/**
 * Squid with Debian's defaults where they matter to the exporter: the cache manager open to
 * localhost (http_access allow localhost manager) and no cachemgr_passwd.
 */
export async function startSquid(ws: Workspace, port: number): Promise<Server> {
  const dir = await ws.dir('squid', 'proxy');
  await writeFile(join(dir, 'squid.conf'), `http_port 127.0.0.1:${port}
pid_filename ${join(dir, 'squid.pid')}
cache_log stdio:${join(dir, 'cache.log')}
access_log none
coredump_dir ${dir}
netdb_filename none
pinger_enable off
shutdown_lifetime 1 seconds
cache_effective_user proxy
http_access allow localhost manager
http_access deny manager
http_access allow localhost
http_access deny all
`);
  const proc = start('squid', '/usr/sbin/squid', ['-N', '-f', join(dir, 'squid.conf')]);
  await stopOnFailure(proc, () => waitForPort(port, proc, 30_000));
  return { port, summary: `Squid on 127.0.0.1:${port}, cache manager allowed from localhost, no cachemgr_passwd`, stop: serverStop(proc) };
}
