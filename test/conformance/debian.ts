// What dpkg says about an installed package: the version tested and the upstream it packages.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PackageInfo {
  readonly name: string;
  readonly version: string;
  readonly homepage: string;
}

/** undefined when the package is not installed. */
export async function installed(name: string): Promise<PackageInfo | undefined> {
  try {
    const { stdout } = await execFileAsync('dpkg-query', ['-W', '-f=${db:Status-Status}\t${Version}\t${Homepage}', name], { timeout: 10_000 });
    const [status, version = '', homepage = ''] = stdout.split('\t');
    return status === 'installed' ? { name, version, homepage } : undefined;
  } catch {
    return undefined;
  }
}
