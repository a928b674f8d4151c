// The load generator: N concurrent HTTPS/1.1 requests over kept-alive connections (as the API
// server keeps them), each request sent as soon as the previous answer on its loop is read.
import { Agent, request } from 'node:https';

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  readonly perSecond: number;
}

export function makeAgent(caCert: string, connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, ca: caCert, servername: 'exporter-injector.exporter-injector.svc' });
}

function once(agent: Agent, port: number, body: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/mutate?timeout=10s',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}

/** Runs `connections` loops for `seconds` against `port`, counting answers that were HTTP 200. */
export async function runLoad(agent: Agent, port: number, body: Buffer, connections: number, seconds: number): Promise<LoadResult> {
  let requests = 0;
  let errors = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (process.hrtime.bigint() < end) {
        if (await once(agent, port, body)) requests += 1;
        else errors += 1;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { requests, errors, seconds: elapsed, perSecond: requests / elapsed };
}
