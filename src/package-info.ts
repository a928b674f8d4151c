// Where the installed package lives and its version, found once from its package.json: the one
// place the version is written, and the anchor for files it ships (deploy/examples/).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** package.json sits two folders above src/ modules, three above dist/src/ ones (and in the image). */
function find(): { root: string; version: string } {
  for (const up of ['../', '../../', '../../../']) {
    const root = new URL(up, import.meta.url);
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'exporter-injector' && typeof pkg.version === 'string') return { root: fileURLToPath(root), version: pkg.version };
    } catch {
      // not at this level; look one higher
    }
  }
  return { root: process.cwd(), version: 'unknown' };
}

const found = find();
export const VERSION = found.version;
/** The package's folder, ending in a path separator. */
export const PACKAGE_ROOT = found.root;
