// Binding a port on "every interface": `::` covers IPv4 and IPv6 where the host has IPv6, but a
// container with IPv6 disabled refuses it, and 0.0.0.0 is then the right answer.
import type { FastifyInstance } from 'fastify';

const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL']);

/** Listens and returns the bound port (port 0 picks a free one). */
export async function listenOn(app: FastifyInstance, port: number, host: string | undefined): Promise<number> {
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
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error(`unexpected listen address ${String(address)}`);
  return address.port;
}
