// The redis load client's logic (client.ts is its CLI): N connections, each writing sequence-numbered
// keys and reading back (a) the key it acknowledged `lag` ticks ago, so a write acknowledged just
// before a migration is read just after it, and (b) a cursor sweeping over every acknowledged key,
// again and again. Counts failed commands, lost writes (acknowledged, read back as nil), stale reads
// (another value), reconnects and latency.
import { randomBytes } from 'node:crypto';
import { nowNs } from '../../../lib/migration/timing.ts';
import { connect, parseInfo, RespConnectionError, text, type RespConnection } from './resp.ts';

export interface ClientOptions {
  host: string;
  port: number;
  connections: number;
  /** Ticks per second per connection; one tick = SET new key, GET lagged key, GET cursor key. */
  rate: number;
  rampMs: number;
  /** Ticks between writing a key and the lagged read of it. */
  lag: number;
  stateMb: number;
  /** A SET answered after longer than this is logged as `first-reply-after-gap` (the RTO stall's trace). */
  gapLogMs?: number;
  log?: (m: string) => void;
}

export interface Counters {
  writes_acked: number;
  reads_verified: number;
  failed_commands: number;
  lost_writes: number;
  stale_reads: number;
  reconnects: number;
  connected: number;
  state_bytes: number;
  verify_lag: number;
}

export interface ClientHandle {
  counters(): Counters;
  /** Latency samples (ms) since the last call, then cleared. */
  takeLatencies(): number[];
  allLatencies(): number[];
  info(): Record<string, string>;
  /** Reads every acknowledged key back once more (after stop); lost/stale found by this pass, not added to the counters. */
  finalCheck(): Promise<{ checked: number; lost: number; stale: number }>;
  stop(): Promise<void>;
  ready: Promise<void>;
}

const KEY = (nonce: string, c: number, seq: number) => `p4cf:${nonce}:${c}:${seq}`;
const VALUE = (nonce: string, c: number, seq: number) => `${nonce}:${c}:${seq}`;

export function startClient(o: ClientOptions): ClientHandle {
  const log = o.log ?? (() => {});
  const gapLogMs = o.gapLogMs ?? 200;
  const nonce = randomBytes(4).toString('hex');
  const k: Counters = {
    writes_acked: 0,
    reads_verified: 0,
    failed_commands: 0,
    lost_writes: 0,
    stale_reads: 0,
    reconnects: 0,
    connected: 0,
    state_bytes: 0,
    verify_lag: 0,
  };
  const acked: number[][] = Array.from({ length: o.connections }, () => []);
  let lat: number[] = [];
  const latAll: number[] = [];
  let info: Record<string, string> = {};
  let stopping = false;
  const timers: NodeJS.Timeout[] = [];
  const conns: (RespConnection | undefined)[] = [];

  /** A connection that reconnects when it drops (each drop after the first connect counts). */
  async function keep(slot: number, onUp: () => void = () => {}): Promise<void> {
    let first = true;
    while (!stopping) {
      try {
        const c = await connect({ host: o.host, port: o.port, timeoutMs: 3000, keepAliveMs: 1000 });
        conns[slot] = c;
        k.connected++;
        if (first) onUp();
        first = false;
        const why = await c.done;
        k.connected--;
        conns[slot] = undefined;
        if (stopping) return;
        k.reconnects++;
        log(`connection ${slot} dropped (${why?.message ?? 'closed by the peer'}); reconnecting`);
      } catch (e) {
        if (first) log(`connection ${slot}: ${(e as Error).message}; retrying`);
        else log(`connection ${slot} reconnect failed: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    const ms = performance.now() - t0;
    lat.push(ms);
    latAll.push(ms);
    return v;
  };

  function check(c: number, seq: number, got: string | null): 'ok' | 'lost' | 'stale' {
    if (got === null) {
      log(`LOST: connection ${c} seq ${seq} was acknowledged, reads back nil`);
      return 'lost';
    }
    if (got !== VALUE(nonce, c, seq)) {
      log(`STALE: connection ${c} seq ${seq} reads back ${JSON.stringify(got.slice(0, 60))}`);
      return 'stale';
    }
    return 'ok';
  }
  function count(r: 'ok' | 'lost' | 'stale'): void {
    if (r === 'lost') k.lost_writes++;
    else if (r === 'stale') k.stale_reads++;
    else k.reads_verified++;
  }
  const busy: boolean[] = [];

  function tickLoop(c: number): void {
    let seq = 0;
    let cursor = 0;
    const t = setInterval(
      () => {
        const conn = conns[c];
        if (stopping || busy[c] || !conn) return;
        busy[c] = true;
        const mine = acked[c];
        const s = ++seq;
        const sentAt = performance.now();
        const ops: Promise<void>[] = [
          timed(() => conn.command(['SET', KEY(nonce, c, s), VALUE(nonce, c, s)])).then((r) => {
            const tookMs = performance.now() - sentAt;
            // a request sent into a freeze is answered only when the client's TCP retransmits it
            // (the server has nothing to send until then): the reply's instant, on the migration's
            // clock, against the switch update gives the RTO stall (analysis/first-data.ts)
            if (tookMs > gapLogMs) log(`first-reply-after-gap conn=${c} seq=${s} gap_ms=${tookMs.toFixed(1)} at_ns=${nowNs()}`);
            if (text(r) === 'OK') {
              mine.push(s);
              k.writes_acked++;
            } else k.failed_commands++;
          }),
        ];
        const reads: number[] = [];
        if (mine.length > o.lag) reads.push(mine[mine.length - 1 - o.lag]);
        // two cursor reads per tick against one new key: the sweep over every acknowledged key
        // outruns the writes, so each key (also those written long before a migration) is re-read
        for (let j = 0; j < 2 && mine.length; j++) {
          reads.push(mine[cursor]);
          cursor = (cursor + 1) % mine.length;
        }
        for (const q of reads)
          ops.push(timed(() => conn.command(['GET', KEY(nonce, c, q)])).then((r) => count(check(c, q, text(r)))));
        k.verify_lag = mine.length - cursor; // keys left in the current sweep
        void Promise.allSettled(ops).then((rs) => {
          for (const r of rs)
            if (r.status === 'rejected') {
              k.failed_commands++;
              if (!(r.reason instanceof RespConnectionError)) log(`command failed: ${(r.reason as Error).message}`);
            }
          busy[c] = false;
        });
      },
      Math.max(1, Math.round(1000 / o.rate)),
    );
    timers.push(t);
  }

  async function preload(): Promise<void> {
    if (!o.stateMb) return;
    const c = await connect({ host: o.host, port: o.port, timeoutMs: 5000 });
    try {
      const block = Buffer.alloc(1 << 20, 0x5a);
      const inFlight: Promise<unknown>[] = [];
      for (let i = 0; i < o.stateMb; i++) {
        inFlight.push(
          c.command(['SET', `p4cf:state:${i}`, block]).then(() => {
            k.state_bytes += block.length;
          }),
        );
        if (inFlight.length >= 8) await inFlight.shift();
      }
      await Promise.all(inFlight);
      log(`preloaded ${o.stateMb} MB of state (${o.stateMb} keys of 1 MiB)`);
    } finally {
      c.close();
    }
  }

  const infoSlot = o.connections;
  async function pollInfo(): Promise<void> {
    const c = conns[infoSlot];
    if (!c || stopping) return;
    try {
      info = parseInfo(text(await c.command(['INFO'])) ?? '');
    } catch {
      /* counted by the connection's drop */
    }
  }

  const ready = (async () => {
    await preload();
    const ups: Promise<void>[] = [];
    ups.push(new Promise<void>((up) => void keep(infoSlot, up)));
    for (let c = 0; c < o.connections; c++) {
      if (c > 0 && o.rampMs > 0) await new Promise((r) => setTimeout(r, o.rampMs));
      ups.push(new Promise<void>((up) => void keep(c, up)));
      tickLoop(c);
    }
    await Promise.all(ups);
    timers.push(setInterval(() => void pollInfo(), 1000));
    await pollInfo();
    log(`${o.connections} connections open to ${o.host}:${o.port} (run ${nonce}); ${o.rate} ticks/s each`);
  })();

  return {
    counters: () => ({ ...k }),
    takeLatencies: () => {
      const l = lat;
      lat = [];
      return l;
    },
    allLatencies: () => latAll,
    info: () => info,
    ready,
    async finalCheck() {
      const c = await connect({ host: o.host, port: o.port, timeoutMs: 5000 });
      let checked = 0,
        lost = 0,
        stale = 0;
      try {
        for (let cn = 0; cn < o.connections; cn++) {
          const seqs = acked[cn];
          for (let i = 0; i < seqs.length; i += 500) {
            const batch = seqs.slice(i, i + 500);
            const r = await c.command(['MGET', ...batch.map((s) => KEY(nonce, cn, s))]);
            (r as (Buffer | null)[]).forEach((v, j) => {
              const res = check(cn, batch[j], v === null ? null : v.toString());
              if (res === 'lost') lost++;
              else if (res === 'stale') stale++;
            });
            checked += batch.length;
          }
        }
      } finally {
        c.close();
      }
      return { checked, lost, stale };
    },
    async stop() {
      stopping = true;
      for (const t of timers) clearInterval(t);
      // let the ticks in flight finish, so stopping is not counted as failed commands
      for (let i = 0; i < 40 && busy.some(Boolean); i++) await new Promise((r) => setTimeout(r, 50));
      for (const c of conns) c?.close();
    },
  };
}
