// Wire format between the stream server and the load generator. JSON text frames keep the
// traffic readable in a packet capture and in CRIU's replayed send queues.

/** Server → client, `fps` times per second per connection. `ts` is wall-clock ns as a decimal string
 * (ns since the epoch do not fit in a double). */
export interface DataFrame {
  type: 'data';
  seq: number;
  ts: string;
  pad: string;
}
/** Client → server. `ts` is the client's own monotonic clock in ns, echoed back untouched. */
export interface Ping {
  type: 'ping';
  seq: number;
  ts: string;
}
/** Server → client answer to a ping. */
export interface Pong {
  type: 'pong';
  seq: number;
  client_ts: string;
  server_ts: string;
}

export type ServerMessage = DataFrame | Pong;

// Wall clock, not performance.now(): a restored process on another host has a different monotonic
// clock, while the analysis compares these stamps with the orchestrator's wall-clock timings.
export const nowNs = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

export function encodeData(seq: number, pad: string): string {
  return JSON.stringify({ type: 'data', seq, ts: nowNs(), pad } satisfies DataFrame);
}

export function encodePong(p: Ping): string {
  return JSON.stringify({ type: 'pong', seq: p.seq, client_ts: p.ts, server_ts: nowNs() } satisfies Pong);
}

/** Parses a client message; returns undefined for anything that is not a well-formed ping
 * (the server ignores junk instead of dropping the connection). */
export function parsePing(text: string): Ping | undefined {
  try {
    const m = JSON.parse(text) as Partial<Ping>;
    if (m && m.type === 'ping' && Number.isInteger(m.seq) && typeof m.ts === 'string') return m as Ping;
  } catch {
    /* not JSON */
  }
  return undefined;
}

export function parseServerMessage(text: string): ServerMessage | undefined {
  try {
    const m = JSON.parse(text) as Partial<ServerMessage>;
    if (m?.type === 'data' && Number.isInteger(m.seq)) return m as DataFrame;
    if (m?.type === 'pong' && Number.isInteger(m.seq) && typeof (m as Pong).client_ts === 'string') return m as Pong;
  } catch {
    /* not JSON */
  }
  return undefined;
}
