// What this build is, for the build-info metric: the package version (from the package.json that
// ships with the code: the repository's in development, /app/package.json in the image) and Node's.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

const PACKAGE_NAME = 'exporter-injector';

/** Walks up from this module (src/server/ or dist/src/server/) to our package.json; `unknown` if absent. */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i += 1) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: one level up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= Object.freeze({ version: packageVersion(), nodeVersion: process.version });
  return cached;
}
