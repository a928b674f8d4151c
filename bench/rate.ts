// Load at a fixed rate (what an API server creating pods at a steady pace looks like): requests
// are sent on a schedule, whatever the previous answers did, over a pool of kept-alive
// connections, and each latency is measured from when its request was due (or sent, if earlier),
// so a stall counts against every request it delayed (no coordinated omission). wrk has no
// fixed-rate mode (wrk2, which has, is not packaged in Debian), and at a few hundred requests per
// second a Node client in the bench process keeps the schedule with most of a core to spare.
import type { Agent } from 'node:https';
import { percentile, post } from './saturate.js';

export interface RateResult {
  readonly rate: number;
  readonly requests: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export async function fixedRate(agent: Agent, port: number, body: Buffer, rate: number, seconds: number): Promise<RateResult> {
  const total = Math.max(1, Math.round(rate * seconds));
  const intervalNs = 1e9 / rate;
  const latencies: number[] = [];
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i += 1) {
    const due = start + BigInt(Math.round(i * intervalNs));
    const waitMs = Number(due - process.hrtime.bigint()) / 1e6;
    // setTimeout has 1 ms granularity: send every request due within the next millisecond now.
    if (waitMs > 1) await new Promise((r) => setTimeout(r, waitMs - 0.5));
    // From when it was due, or from when it was sent if that was (at most 1 ms) earlier.
    const sent = process.hrtime.bigint();
    const from = sent < due ? sent : due;
    inFlight.push(
      post(agent, port, body).then((ok) => {
        if (ok) latencies.push(Number(process.hrtime.bigint() - from) / 1e6);
        else errors += 1;
      }),
    );
  }
  await Promise.all(inFlight);
  return { rate, requests: latencies.length, errors, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}
