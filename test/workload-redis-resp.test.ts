// The RESP client and the redis workload's client against a real redis-server on loopback
// (no root needed): replies of every type, pipelining, server errors, a killed connection
// failing exactly its in-flight commands, and the client's lost-write and reconnect counters
// moving when the data really is lost or the connection really is cut.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../lib/hosts/ports.ts';
import {
  connect,
  encodeCommand,
  parseReply,
  parseInfo,
  RespConnectionError,
  RespProtocolError,
  RespServerError,
  text,
  type RespConnection,
} from '../experiments/workloads/redis/resp.ts';
import { metricsText, startClient } from '../experiments/workloads/redis/client.ts';
import { REDIS_BINARY } from '../experiments/workloads/redis/index.ts';
import { parsePromText, sampleValue, scrapeMetrics } from '../experiments/workload/promtext.ts';
import { bundleRemote } from '../lib/hosts/bundle.ts';
import { startTs, workloadFile } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKLOADS } from '../experiments/workloads/index.ts';

const have = existsSync(REDIS_BINARY);
if (!have)
  console.log(`workload-redis-resp: skipped: ${REDIS_BINARY} is missing (Debian package redis-server; prereqs installs it)`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RESP encoding and parsing (no server)', () => {
  it('encodes a command as an array of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', 12]).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n');
  });
  it('parses every reply type and waits for incomplete ones', () => {
    expect(parseReply(Buffer.from('+OK\r\n'))).toEqual({ value: 'OK', end: 5 });
    expect(parseReply(Buffer.from(':42\r\n'))?.value).toBe(42);
    expect(parseReply(Buffer.from('$-1\r\n'))?.value).toBeNull();
    expect(text(parseReply(Buffer.from('$5\r\nhello\r\n'))!.value as Buffer)).toBe('hello');
    expect(parseReply(Buffer.from('$5\r\nhel'))).toBeUndefined();
    expect(parseReply(Buffer.from('*2\r\n$1\r\na\r\n'))).toBeUndefined();
    const arr = parseReply(Buffer.from('*3\r\n$1\r\na\r\n$-1\r\n:7\r\n'))!.value as unknown[];
    expect(arr.map((x) => (Buffer.isBuffer(x) ? x.toString() : x))).toEqual(['a', null, 7]);
    expect(parseReply(Buffer.from('-ERR bad\r\n'))?.value).toBeInstanceOf(RespServerError);
    expect(() => parseReply(Buffer.from('?x\r\n'))).toThrow(RespProtocolError);
  });
  it('parses INFO lines', () => {
    expect(parseInfo('# Clients\r\nconnected_clients:3\r\ndb0:keys=5,expires=0\r\n')).toEqual({
      connected_clients: '3',
      db0: 'keys=5,expires=0',
    });
  });
});

describe.skipIf(!have)('against redis-server on loopback', () => {
  let server: ChildProcess;
  let port: number;
  const conns: RespConnection[] = [];
  const open = async () => {
    const c = await connect({ host: '127.0.0.1', port });
    conns.push(c);
    return c;
  };

  beforeAll(async () => {
    port = await freePort();
    server = spawn(REDIS_BINARY, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 50; i++) {
      try {
        const c = await connect({ host: '127.0.0.1', port, timeoutMs: 500 });
        c.close();
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`redis-server did not listen on 127.0.0.1:${port}`);
  });
  afterAll(() => {
    for (const c of conns) c.close();
    server?.kill('SIGTERM');
  });

  it('SET/GET, nil, integers, a 1 MiB value and 1000 pipelined commands in order', async () => {
    const c = await open();
    expect(await c.command(['SET', 'a', 'x'])).toBe('OK');
    expect(text(await c.command(['GET', 'a']))).toBe('x');
    expect(await c.command(['GET', 'no-such-key'])).toBeNull();
    expect(await c.command(['INCR', 'n'])).toBe(1);
    const big = Buffer.alloc(1 << 20, 7);
    await c.command(['SET', 'big', big]);
    expect(((await c.command(['GET', 'big'])) as Buffer).equals(big)).toBe(true);
    const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.command(['ECHO', `m${i}`])));
    expect(replies.map((r) => text(r))).toEqual(Array.from({ length: 1000 }, (_, i) => `m${i}`));
  });

  it('a server error rejects that command only; the connection stays usable', async () => {
    const c = await open();
    await expect(c.command(['NOSUCHCOMMAND'])).rejects.toBeInstanceOf(RespServerError);
    expect(await c.command(['PING'])).toBe('PONG');
  });

  it('a connection killed by the server fails its in-flight commands with RespConnectionError', async () => {
    const victim = await open();
    const admin = await open();
    const id = await victim.command(['CLIENT', 'ID']);
    const blocked = victim.command(['BLPOP', 'never-pushed', '0']).then(
      () => 'resolved',
      (e: Error) => e,
    );
    await sleep(50);
    expect(await admin.command(['CLIENT', 'KILL', 'ID', String(id)])).toBe(1);
    expect(await blocked).toBeInstanceOf(RespConnectionError);
    expect(victim.closed).toBe(true);
    await expect(victim.command(['PING'])).rejects.toBeInstanceOf(RespConnectionError);
  });

  it('a refused connection rejects connect with RespConnectionError', async () => {
    await expect(connect({ host: '127.0.0.1', port: await freePort(), timeoutMs: 1000 })).rejects.toBeInstanceOf(
      RespConnectionError,
    );
  });

  it('the workload client verifies its writes, and counts lost writes and reconnects when they happen', async () => {
    const client = startClient({ host: '127.0.0.1', port, connections: 3, rate: 50, rampMs: 0, lag: 5, stateMb: 2 });
    await client.ready;
    await sleep(1200);
    const k1 = client.counters();
    expect(k1.writes_acked).toBeGreaterThan(50);
    expect(k1.reads_verified).toBeGreaterThan(50);
    expect(k1).toMatchObject({
      lost_writes: 0,
      stale_reads: 0,
      reconnects: 0,
      failed_commands: 0,
      connected: 4,
      state_bytes: 2 << 20,
    });
    const m = parsePromText(metricsText(k1, client.takeLatencies(), client.info(), 3));
    expect(sampleValue(m, 'redis_client_connected')).toBe(3);
    expect(sampleValue(m, 'redis_client_latency_samples')).toBeGreaterThan(50);
    expect(sampleValue(m, 'redis_server_keys')).toBeGreaterThan(50);

    // data really lost (as a restore from the wrong image would do): the lagged reads see nil
    const admin = await open();
    await admin.command(['FLUSHALL']);
    await sleep(500);
    expect(client.counters().lost_writes).toBeGreaterThan(0);

    // connections really cut: each client connection reconnects and counts it
    await admin.command(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
    await sleep(800);
    const k2 = client.counters();
    expect(k2.reconnects).toBeGreaterThanOrEqual(3);
    expect(k2.connected).toBe(4);
    await client.stop();
    const final = await client.finalCheck();
    expect(final.checked).toBe(k2.writes_acked + (client.counters().writes_acked - k2.writes_acked));
    expect(final.lost).toBeGreaterThan(0); // the flushed keys
  });

  it('the bundled redis-client.mjs runs with plain node; the collector with --workload redis writes its columns; SIGTERM prints the final check', async () => {
    const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
    const dist = await bundleRemote(repo, { require: ['redis-client.mjs'] });
    const tmp = mkdtempSync(join(tmpdir(), 'p4cf-redis-'));
    try {
      const mport = await freePort();
      const cl = spawn(
        'node',
        [
          join(dist, 'redis-client.mjs'),
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--connections',
          '2',
          '--rate',
          '40',
          '--ramp',
          '0ms',
          '--metrics-port',
          String(mport),
          '--state-mb',
          '1',
        ],
        { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      cl.stdout!.on('data', (d) => {
        out += d;
      });
      cl.stderr!.on('data', (d) => {
        out += d;
      });
      const url = `http://127.0.0.1:${mport}/metrics`;
      await waitFor(
        'redis-client connected',
        async () => sampleValue(await scrapeMetrics(url, 1000), 'redis_client_connected') === 2,
        10_000,
      );
      const csv = join(tmp, 'metrics.csv');
      const col = startTs(
        workloadFile('collector'),
        [
          '--server',
          'http://127.0.0.1:1/metrics',
          '--loadgen',
          url,
          '--interval',
          '200',
          '--out',
          csv,
          '--log',
          join(tmp, 'collector.log'),
          '--workload',
          'redis',
        ],
        join(tmp, 'collector.out'),
      );
      await waitFor(
        '4 metrics rows',
        () => {
          try {
            return readFileSync(csv, 'utf8').trim().split('\n').length > 4;
          } catch {
            return false;
          }
        },
        15_000,
      );
      expect(await col.stop()).toBe(0);
      const [head, ...lines] = readFileSync(csv, 'utf8').trim().split('\n');
      expect(head).toBe(WORKLOADS.redis.columns.join(','));
      const cols = head.split(',');
      const last = Object.fromEntries(lines[lines.length - 1].split(',').map((v, i) => [cols[i], v]));
      expect(Number(last.redis_writes_acked)).toBeGreaterThan(0);
      expect(last).toMatchObject({
        redis_lost_writes: '0',
        redis_reconnects: '0',
        lg_connected_clients: '2',
        redis_state_bytes: String(1 << 20),
      });
      expect(readFileSync(join(tmp, 'collector.log'), 'utf8')).not.toMatch(/server scrape failed/);
      const exited = new Promise<number | null>((r) => cl.once('exit', r));
      cl.kill('SIGTERM');
      expect(await exited).toBe(0);
      const summary = JSON.parse(/summary (\{.*\})/.exec(out)![1]) as {
        final_check: { checked: number; lost: number; stale: number };
        writes_acked: number;
      };
      expect(summary.final_check).toEqual({ checked: summary.writes_acked, lost: 0, stale: 0 });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
