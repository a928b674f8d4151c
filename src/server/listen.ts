// Binding a port on "every interface": `::` covers IPv4 and IPv6 where the host has IPv6, but a
// container with IPv6 disabled refuses it, and 0.0.0.0 is then the right answer.
import type { FastifyInstance } from 'fastify';
import { InjectorError } from '../errors.js';

const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL']);

/**
 * Listens and returns the bound port (port 0 picks a free one). `flag` names the setting in the
 * error when the port cannot be used (taken, privileged, or an address this host does not have).
 */
export async function listenOn(app: FastifyInstance, port: number, host: string | undefined, flag: string): Promise<number> {
  try {
    if (host !== undefined) {
      await app.listen({ port, host });
    } else {
      try {
        await app.listen({ port, host: '::' });
      } catch (e) {
        if (!NO_IPV6.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
        await app.listen({ port, host: '0.0.0.0' });
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE' ? 'the port is already in use' : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : code === 'EADDRNOTAVAIL' ? 'this host has no such address' : (e as Error).message;
    throw new InjectorError('EI_ERR_CONFIG_INVALID', `${flag} ${port}: cannot listen on ${host ?? 'all interfaces'}: ${why}; choose another port or --host`, { cause: e });
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error(`unexpected listen address ${String(address)}`);
  return address.port;
}
