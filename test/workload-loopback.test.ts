// Stream server + load generator + collector as real processes on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startTs, workloadFile, type Proc } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';
import { parsePromText, sampleValue, type Sample } from '../experiments/workload/promtext.ts';
import { CSV_COLUMNS, ORIGINAL_COLUMN_COUNT } from '../experiments/workload/columns.ts';

const ORIGINAL = [
  'timestamp',
  'timestamp_unix_milli',
  'elapsed_s',
  'connected_clients',
  'total_clients',
  'bytes_sent',
  'bytes_received',
  'uptime_s',
  'lg_connected_clients',
  'ws_rtt_avg_ms',
  'ws_rtt_p50_ms',
  'ws_rtt_p95_ms',
  'ws_rtt_p99_ms',
  'ws_rtt_max_ms',
  'ws_jitter_ms',
  'connection_drops',
  'cpu_percent',
  'memory_mb',
  'migration_event',
];

const dir = mkdtempSync(join(tmpdir(), 'p4wl-loop-'));
const procs: Proc[] = [];
let ports: Record<'ws' | 'srvMetrics' | 'lgMetrics', number>;

async function scrape(port: number): Promise<Sample[]> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parsePromText(await r.text());
}
const lgValue = async (name: string) => sampleValue(await scrape(ports.lgMetrics), name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const readCsv = (f: string) =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));

beforeAll(async () => {
  ports = { ws: await freePort(), srvMetrics: await freePort(), lgMetrics: await freePort() };
  procs.push(
    startTs(
      workloadFile('server'),
      ['--host', '127.0.0.1', '--port', String(ports.ws), '--metrics-port', String(ports.srvMetrics)],
      join(dir, 'server.log'),
    ),
  );
  await waitFor('server /health', async () => (await fetch(`http://127.0.0.1:${ports.ws}/health`)).status === 200, 15_000, 200);
  procs.push(
    startTs(
      workloadFile('loadgen'),
      [
        '--url',
        `ws://127.0.0.1:${ports.ws}/`,
        '--connections',
        '4',
        '--metrics-port',
        String(ports.lgMetrics),
        '--metrics-listen',
        '127.0.0.1',
      ],
      join(dir, 'loadgen.log'),
    ),
  );
  await waitFor('4 loadgen connections', async () => (await lgValue('loadgen_connected_clients')) === 4, 15_000, 200);
});

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop('SIGTERM', 3000);
  rmSync(dir, { recursive: true, force: true });
});

describe('stream server and load generator on loopback', () => {
  it('health answers JSON with the client count', async () => {
    const h = (await (await fetch(`http://127.0.0.1:${ports.ws}/health`)).json()) as { status: string; clients: number };
    expect(h).toMatchObject({ status: 'ok', clients: 4 });
  });

  it('reports RTT figures below 50 ms, frames flowing and nothing lost', async () => {
    await lgValue('loadgen_rtt_samples'); // reset the interval
    await sleep(1000);
    const s = await scrape(ports.lgMetrics);
    const v = (n: string) => sampleValue(s, n)!;
    expect(v('loadgen_rtt_samples')).toBeGreaterThanOrEqual(20); // 4 conns x 10 pings/s
    for (const n of ['avg', 'p50', 'p95', 'p99', 'max']) {
      expect(v(`loadgen_rtt_${n}_ms`)).toBeGreaterThan(0);
      expect(v(`loadgen_rtt_${n}_ms`)).toBeLessThan(50);
    }
    expect(v('loadgen_rtt_p50_ms')).toBeLessThanOrEqual(v('loadgen_rtt_p99_ms'));
    expect(v('loadgen_jitter_ms')).toBeGreaterThanOrEqual(0);
    expect(v('loadgen_frames_received_total')).toBeGreaterThan(60);
    expect(v('loadgen_frames_lost')).toBe(0);
    expect(v('loadgen_connection_drops_total')).toBe(0);
    expect(sampleValue(s, 'loadgen_rtt_ms_count')).toBeGreaterThan(0);
    const srv = await scrape(ports.srvMetrics);
    expect(sampleValue(srv, 'stream_connected_clients')).toBe(4);
    expect(sampleValue(srv, 'stream_frames_sent_total')).toBeGreaterThan(60);
    expect(sampleValue(srv, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('SIGUSR2 quiesces frames and echoes, and resuming loses nothing', async () => {
    const server = procs[0];
    process.kill(server.pid, 'SIGUSR2');
    await waitFor('stream_quiesced=1', async () => sampleValue(await scrape(ports.srvMetrics), 'stream_quiesced') === 1, 3000);
    await sleep(300); // frames already in flight land
    const before = await lgValue('loadgen_frames_received_total');
    const pingsBefore = await lgValue('loadgen_pings_sent_total');
    await sleep(1200);
    expect(await lgValue('loadgen_frames_received_total')).toBe(before);
    expect(await lgValue('loadgen_pings_sent_total')).toBeGreaterThan(pingsBefore! + 20); // pings kept going out, unanswered for now
    process.kill(server.pid, 'SIGUSR2');
    await waitFor('frames after resume', async () => (await lgValue('loadgen_frames_received_total'))! > before! + 30, 5000);
    await sleep(500);
    const s = await scrape(ports.lgMetrics);
    expect(sampleValue(s, 'loadgen_frames_lost')).toBe(0);
    expect(sampleValue(s, 'loadgen_frames_duplicated_total')).toBe(0);
    expect(sampleValue(s, 'loadgen_frames_reordered_total')).toBe(0);
    expect(sampleValue(s, 'loadgen_pings_unanswered')).toBe(0); // echoes held during quiesce were sent
    expect(sampleValue(s, 'loadgen_connection_drops_total')).toBe(0);
    expect(readFileSync(join(dir, 'loadgen.log'), 'utf8')).toMatch(
      /first-data-after-gap conn=\d+ seq=\d+ gap_ms=(1[2-9]\d\d|[2-9]\d\d\d)/,
    );
  });

  it('collector writes the original 19 columns then the new ones, one row per interval, marks migrations, flushes on SIGTERM', async () => {
    const out = join(dir, 'metrics.csv');
    const mark = join(dir, 'mark');
    const col = startTs(
      workloadFile('collector'),
      [
        '--server',
        `http://127.0.0.1:${ports.srvMetrics}`,
        '--loadgen',
        `http://127.0.0.1:${ports.lgMetrics}/metrics`,
        '--interval',
        '250',
        '--out',
        out,
        '--mark',
        mark,
        '--log',
        join(dir, 'collector.log'),
      ],
      join(dir, 'collector.out'),
    );
    procs.push(col);
    await waitFor('3 rows', () => existsSync(out) && readCsv(out).length >= 4, 10_000);
    writeFileSync(mark, '');
    await waitFor('mark consumed', () => !existsSync(mark), 3000);
    process.kill(col.pid, 'SIGUSR1');
    await sleep(600);
    const termAt = Date.now();
    expect(await col.stop('SIGTERM')).toBe(0);
    const rows = readCsv(out);
    const header = rows[0];
    expect(header.slice(0, ORIGINAL_COLUMN_COUNT)).toEqual(ORIGINAL);
    expect(header).toEqual([...CSV_COLUMNS]);
    expect(header.slice(ORIGINAL_COLUMN_COUNT)).toEqual(
      expect.arrayContaining([
        'frames_received',
        'frames_lost',
        'frames_duplicated',
        'frames_reordered',
        'pings_sent',
        'pings_unanswered',
        'server_quiesced',
        'last_frame_age_ms',
      ]),
    );
    const data = rows.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
    expect(data.length).toBeGreaterThanOrEqual(6);
    for (const r of data) expect(Object.keys(r)).toHaveLength(header.length);
    const times = data.map((r) => Number(r.timestamp_unix_milli));
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // one row per 250 ms tick (the last row is the SIGTERM flush, off-grid): no tick written twice or
    // skipped — a late tick (a loaded machine) may be followed by a short gap to the next, on time
    const ticks = gaps.slice(0, -1);
    for (const g of ticks) {
      expect(g).toBeGreaterThan(50);
      expect(g).toBeLessThan(600);
    }
    const span = times.at(-2)! - times[0];
    expect(Math.abs(span / 250 - ticks.length), `rows at ${times.join(', ')}`).toBeLessThanOrEqual(1);
    expect(times.at(-1)).toBeGreaterThanOrEqual(termAt);
    expect(data.filter((r) => r.migration_event === '1')).toHaveLength(2); // mark file + SIGUSR1
    const last = data.at(-1)!;
    expect(Number(last.connected_clients)).toBe(4);
    expect(Number(last.lg_connected_clients)).toBe(4);
    expect(Number(last.frames_received)).toBeGreaterThan(0);
    expect(last.frames_lost).toBe('0');
    expect(Number(last.memory_mb)).toBeGreaterThan(1);
    expect(Number(last.last_frame_age_ms)).toBeLessThan(1000);
    expect(last.server_scrape_ok).toBe('1');
  });

  it('a dead endpoint gives empty fields and a note, not a crash', async () => {
    const out = join(dir, 'dead.csv');
    const logf = join(dir, 'dead.log');
    const dead = await freePort();
    const col = startTs(
      workloadFile('collector'),
      [
        '--server',
        `http://127.0.0.1:${dead}`,
        '--loadgen',
        `http://127.0.0.1:${ports.lgMetrics}`,
        '--interval',
        '200',
        '--out',
        out,
        '--log',
        logf,
      ],
      join(dir, 'dead.out'),
    );
    procs.push(col);
    await waitFor('3 rows', () => existsSync(out) && readCsv(out).length >= 4, 10_000);
    expect(await col.stop('SIGTERM')).toBe(0);
    const rows = readCsv(out);
    const h = rows[0];
    const r = Object.fromEntries(h.map((k, i) => [k, rows[2][i]]));
    for (const k of [
      'connected_clients',
      'total_clients',
      'bytes_sent',
      'uptime_s',
      'cpu_percent',
      'memory_mb',
      'server_quiesced',
    ])
      expect(r[k]).toBe('');
    expect(r.server_scrape_ok).toBe('0');
    expect(r.lg_connected_clients).toBe('4');
    expect(readFileSync(logf, 'utf8')).toMatch(/server scrape failed/);
  });

  it('a server restart counts one drop per connection and the load generator reconnects', async () => {
    expect(await procs[0].stop('SIGTERM')).toBe(0);
    await waitFor('drops counted', async () => (await lgValue('loadgen_connection_drops_total')) === 4, 5000);
    expect(await lgValue('loadgen_connected_clients')).toBe(0);
    procs[0] = startTs(
      workloadFile('server'),
      ['--host', '127.0.0.1', '--port', String(ports.ws), '--metrics-port', String(ports.srvMetrics)],
      join(dir, 'server2.log'),
    );
    await waitFor('reconnected', async () => (await lgValue('loadgen_connected_clients')) === 4, 20_000, 200);
    const before = (await lgValue('loadgen_frames_received_total'))!;
    await waitFor(
      'frames on the new sessions',
      async () => (await lgValue('loadgen_frames_received_total'))! > before + 30,
      5000,
    );
    const s = await scrape(ports.lgMetrics);
    expect(sampleValue(s, 'loadgen_connection_drops_total')).toBe(4);
    expect(sampleValue(s, 'loadgen_frames_lost')).toBe(0); // new sessions restart at seq 0: no false gap
    expect(sampleValue(s, 'loadgen_frames_duplicated_total')).toBe(0);
    expect(readFileSync(join(dir, 'loadgen.log'), 'utf8')).toMatch(/conn \d dropped \(code \d+/);
  });
});
