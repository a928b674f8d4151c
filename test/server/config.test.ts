// serve's settings: defaults, environment equivalents, flags winning, every problem at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { helpText } from '../../src/config/flags.js';
import { DEFAULT_BODY_LIMIT, parseServeConfig, SERVE_FLAGS, SERVE_SPEC, type FileProbe } from '../../src/config/serve-config.js';
import { isInjectorError } from '../../src/errors.js';

const allFiles: FileProbe = { kind: (p) => (p.endsWith('/') || p.startsWith('dir') ? 'directory' : 'file') };
const noFiles: FileProbe = { kind: () => 'missing' };

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(isInjectorError(e, 'EI_ERR_CONFIG_INVALID'), `expected EI_ERR_CONFIG_INVALID, got ${String(e)}`);
    return e.details;
  }
  assert.fail('expected the configuration to be refused');
}

describe('serve configuration', () => {
  it('has documented defaults and is frozen', () => {
    const c = parseServeConfig([], {}, allFiles);
    assert.equal(c.port, 8443);
    assert.equal(c.healthPort, 8080);
    assert.equal(c.host, undefined);
    assert.equal(c.path, '/mutate');
    assert.equal(c.tlsCert, 'certs/tls.crt');
    assert.equal(c.tlsKey, 'certs/tls.key');
    assert.equal(c.templatesDir, undefined);
    assert.deepEqual(c.ignoredNamespaces, ['kube-system', 'kube-public', 'kube-node-lease']);
    assert.equal(c.sidecarMode, 'auto');
    // Room for object and oldObject of the API server's 3 MiB maximum, plus the envelope.
    assert.equal(c.bodyLimitBytes, DEFAULT_BODY_LIMIT);
    assert.ok(DEFAULT_BODY_LIMIT >= 2 * 3 * 1024 * 1024);
    assert.ok(c.drainTimeoutSeconds < 30, 'drains within the default terminationGracePeriodSeconds');
    assert.equal(c.dev, false);
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.ignoredNamespaces));
  });

  it('reads EXPORTER_INJECTOR_* variables, and a flag wins over its variable', () => {
    const env = {
      EXPORTER_INJECTOR_PORT: '9443',
      EXPORTER_INJECTOR_HEALTH_PORT: '9090',
      EXPORTER_INJECTOR_LOG_LEVEL: 'debug',
      EXPORTER_INJECTOR_IGNORED_NAMESPACES: 'a, b,,c',
      EXPORTER_INJECTOR_BODY_LIMIT: '4Mi',
      EXPORTER_INJECTOR_DEV: 'true',
      EXPORTER_INJECTOR_TEMPLATES: 'dir-templates',
    };
    const c = parseServeConfig(['--port', '10443', '--sidecar-mode', 'classic'], env, allFiles);
    assert.equal(c.port, 10443);
    assert.equal(c.healthPort, 9090);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.ignoredNamespaces, ['a', 'b', 'c']);
    assert.equal(c.bodyLimitBytes, 4 * 1024 * 1024);
    assert.equal(c.dev, true);
    assert.equal(c.sidecarMode, 'classic');
    assert.equal(c.templatesDir, 'dir-templates');
  });

  it('has an environment variable for every flag, named after it', () => {
    for (const f of SERVE_FLAGS) {
      assert.equal(f.env, `EXPORTER_INJECTOR_${f.flag.toUpperCase().replace(/-/g, '_')}`);
      assert.ok(helpText(SERVE_SPEC).includes(`--${f.flag}`) && helpText(SERVE_SPEC).includes(f.env), `--help lists --${f.flag} and ${f.env}`);
    }
  });

  it('reports every invalid setting at once, naming the flag or variable and what is valid', () => {
    const problems = problemsOf(() =>
      parseServeConfig(
        ['--port', '70000', '--log-level', 'loud', '--sidecar-mode', 'sometimes', '--drain-timeout', '0', '--body-limit', '1Mi', '--path', 'mutate', '--templates', 'nowhere'],
        { EXPORTER_INJECTOR_HEALTH_PORT: 'eighty', EXPORTER_INJECTOR_IGNORED_NAMESPACES: 'Kube_System' },
        noFiles,
      ),
    );
    const expected = [
      /--port "70000": want a port number from 1 to 65535/,
      /EXPORTER_INJECTOR_HEALTH_PORT "eighty": want a port number/,
      /--log-level "loud": want one of fatal, error, warn, info, debug, trace, silent/,
      /--sidecar-mode "sometimes" is invalid; valid: auto, native, classic/,
      /--drain-timeout "0": want a number of seconds/,
      /--body-limit "1Mi": want a size from 3Mi to 64Mi/,
      /--path "mutate": want an absolute URL path/,
      /--templates nowhere: not found; want a directory/,
      /EXPORTER_INJECTOR_IGNORED_NAMESPACES "Kube_System": "Kube_System" not a namespace name/,
      /--tls-cert \(default\) certs\/tls.crt: file not found; create certificates with "exporter-injector certs", or run with --dev/,
      /--tls-key \(default\) certs\/tls.key: file not found/,
    ];
    for (const re of expected) assert.ok(problems.some((p) => re.test(p)), `a problem matching ${re} in:\n${problems.join('\n')}`);
    assert.equal(problems.length, expected.length, problems.join('\n'));
  });

  it('lets --dev create missing certificates instead of reporting them', () => {
    const c = parseServeConfig(['--dev'], {}, noFiles);
    assert.equal(c.dev, true);
  });

  it('refuses the same port for both servers', () => {
    const problems = problemsOf(() => parseServeConfig(['--port', '9000', '--health-port', '9000'], {}, allFiles));
    assert.match(problems[0] ?? '', /--port and --health-port are both 9000/);
  });

  it('treats an unknown flag as a usage error listing the valid flags', () => {
    assert.throws(
      () => parseServeConfig(['--prot', '1'], {}, allFiles),
      (e: unknown) => isInjectorError(e, 'EI_ERR_USAGE') && /--prot/.test(e.message) && /--port/.test(e.message),
    );
  });
});
