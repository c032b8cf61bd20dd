// Metrics collector: runs on the control machine, scrapes the stream server and the load generator
// (through SSH forwards) every interval and appends one row per tick to metrics.csv.
//   node --import tsx experiments/workload/collector.ts --server URL --loadgen URL --interval 1000 \
//        --out metrics.csv --mark FILE --log collector.log [--workload NAME]
// --workload (default stream) picks the columns and the row builder of experiments/workloads/NAME.
// A migration is marked by creating the --mark file (deleted on the next tick) or by SIGUSR1.
// SIGTERM writes one last live row and exits 0.
import { appendFileSync, existsSync, readFileSync, unlinkSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { csvHeader, formatRow, type Row } from './columns.ts';
import { cliArgs, durationMs } from '../../lib/run/cli.ts';
import { sampleValue, scrapeMetrics, type Sample } from './promtext.ts';
import { workloadFor } from '../workloads/index.ts';

export function metricsUrl(u: string, what: string): string {
  let url: URL;
  try {
    url = new URL(u.includes('://') ? u : `http://${u}`);
  } catch {
    throw new Error(`collector: ${what} "${u}" is not a URL (expected http://HOST:PORT[/metrics])`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/metrics';
  return url.href;
}

/** Builds one CSV row from the two scrapes (either may be missing). */
export function buildRow(
  now: number,
  startedAt: number,
  srv: Sample[] | undefined,
  lg: Sample[] | undefined,
  migration: boolean,
): Row {
  const s = (n: string) => (srv ? sampleValue(srv, n) : undefined);
  const l = (n: string) => (lg ? sampleValue(lg, n) : undefined);
  const mem = s('stream_memory_bytes');
  const lastFrame = l('loadgen_last_frame_timestamp_ms');
  return {
    timestamp: new Date(now).toISOString(),
    timestamp_unix_milli: now,
    elapsed_s: (now - startedAt) / 1000,
    connected_clients: s('stream_connected_clients'),
    total_clients: s('stream_total_clients'),
    bytes_sent: s('stream_bytes_sent_total'),
    bytes_received: s('stream_bytes_received_total'),
    uptime_s: s('stream_uptime_seconds'),
    lg_connected_clients: l('loadgen_connected_clients'),
    ws_rtt_avg_ms: l('loadgen_rtt_avg_ms'),
    ws_rtt_p50_ms: l('loadgen_rtt_p50_ms'),
    ws_rtt_p95_ms: l('loadgen_rtt_p95_ms'),
    ws_rtt_p99_ms: l('loadgen_rtt_p99_ms'),
    ws_rtt_max_ms: l('loadgen_rtt_max_ms'),
    ws_jitter_ms: l('loadgen_jitter_ms'),
    connection_drops: l('loadgen_connection_drops_total'),
    cpu_percent: s('stream_cpu_percent'),
    memory_mb: mem === undefined ? undefined : mem / (1024 * 1024),
    migration_event: migration ? 1 : 0,
    frames_received: l('loadgen_frames_received_total'),
    frames_lost: l('loadgen_frames_lost'),
    frames_duplicated: l('loadgen_frames_duplicated_total'),
    frames_reordered: l('loadgen_frames_reordered_total'),
    pings_sent: l('loadgen_pings_sent_total'),
    pings_unanswered: l('loadgen_pings_unanswered'),
    server_quiesced: s('stream_quiesced'),
    last_frame_age_ms: lastFrame === undefined || !Number.isFinite(lastFrame) ? undefined : Math.max(0, now - lastFrame),
    frames_sent: s('stream_frames_sent_total'),
    lg_bytes_received: l('loadgen_bytes_received_total'),
    ws_rtt_samples: l('loadgen_rtt_samples'),
    pongs_late: l('loadgen_pongs_late_total'),
    rtts_over_cap: l('loadgen_rtt_stale_total'),
    server_scrape_ok: srv ? 1 : 0,
    loadgen_scrape_ok: lg ? 1 : 0,
  };
}

async function main(): Promise<void> {
  const { values: args } = cliArgs({
    command: 'npx tsx experiments/workload/collector.ts',
    summary: 'Scrapes the stream server and load generator metrics every interval into a CSV (one row per scrape).',
    options: {
      server: { type: 'string', arg: 'URL', required: true, help: "the stream server's metrics URL" },
      loadgen: { type: 'string', arg: 'URL', required: true, help: "the load generator's metrics URL" },
      interval: {
        type: 'string',
        arg: 'DURATION',
        default: '1000',
        parse: durationMs,
        help: 'scrape period: 250ms, 1s, or a number of ms (default 1000)',
      },
      out: { type: 'string', arg: 'FILE', default: 'metrics.csv', help: 'CSV to append to (default metrics.csv)' },
      mark: { type: 'string', arg: 'FILE', default: '', help: 'creating this file marks a migration (deleted on the next tick)' },
      log: { type: 'string', arg: 'FILE', default: 'collector.log', help: 'log file (default collector.log)' },
      workload: {
        type: 'string',
        arg: 'NAME',
        default: 'stream',
        help: 'the workload whose columns and rows to write (experiments/workloads; default stream)',
      },
    },
  });
  // --workload: its columns and rows (experiments/workloads); a server without metrics is not scraped
  const w = workloadFor({ WORKLOAD: args.workload as never });
  const serverUrl = metricsUrl(args.server, '--server');
  const loadgenUrl = metricsUrl(args.loadgen, '--loadgen');
  const interval = args.interval;
  if (interval < 50) throw new Error(`collector: --interval ${interval} ms is too short (expected at least 50 ms)`);
  const note = (msg: string) => appendFileSync(args.log, `${new Date().toISOString()} ${msg}\n`);

  const existing = existsSync(args.out) ? readFileSync(args.out, 'utf8') : '';
  if (existing.length > 0) {
    const first = existing.split('\n', 1)[0];
    if (first !== csvHeader(w.columns))
      throw new Error(`collector: ${args.out} exists with a different header; refusing to append (move it away)`);
  } else appendFileSync(args.out, csvHeader(w.columns) + '\n');

  let markSignal = false;
  let stopping = false;
  let inFlight: Promise<void> | undefined;
  const failing = { server: false, loadgen: false };
  const startedAt = Date.now();
  note(`collector pid ${process.pid}: server ${serverUrl}, loadgen ${loadgenUrl}, every ${interval} ms -> ${args.out}`);

  async function tick(): Promise<void> {
    const timeout = Math.min(Math.max(interval * 0.9, 50), 5000);
    const [srv, lg] = await Promise.allSettled([
      w.serverMetrics ? scrapeMetrics(serverUrl, timeout) : Promise.resolve(undefined),
      scrapeMetrics(loadgenUrl, timeout),
    ]);
    let migration = markSignal;
    markSignal = false;
    if (args.mark && existsSync(args.mark)) {
      migration = true;
      try {
        unlinkSync(args.mark);
      } catch (e) {
        note(`could not delete mark file ${args.mark}: ${(e as Error).message}`);
      }
    }
    for (const [what, r] of [
      ['server', srv],
      ['loadgen', lg],
    ] as const) {
      if (r.status === 'rejected') {
        const err = r.reason as Error;
        note(
          `${what} scrape failed: ${err.name === 'TimeoutError' ? `timeout after ${timeout} ms` : err.message}${(err.cause as Error)?.message ? ` (${(err.cause as Error).message})` : ''}`,
        );
        failing[what] = true;
      } else if (failing[what]) {
        note(`${what} scrape ok again`);
        failing[what] = false;
      }
    }
    const now = Date.now();
    const row = w.row(
      now,
      startedAt,
      srv.status === 'fulfilled' ? srv.value : undefined,
      lg.status === 'fulfilled' ? lg.value : undefined,
      migration,
    );
    appendFileSync(args.out, formatRow(row, w.columns) + '\n');
    if (migration) note(`migration marked at ${row.timestamp}`);
  }

  let k = 1;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopping) return;
    inFlight = tick()
      .catch((e) => note(`tick failed: ${(e as Error).stack}`))
      .finally(() => {
        inFlight = undefined;
      });
    void inFlight.then(() => {
      // Fixed grid from the start time; if a tick overran, skip the missed slots instead of bursting.
      const now = Date.now();
      k = Math.max(k + 1, Math.ceil((now - startedAt) / interval));
      timer = setTimeout(loop, Math.max(0, startedAt + k * interval - now));
    });
  };
  timer = setTimeout(loop, interval);

  process.on('SIGUSR1', () => {
    markSignal = true;
  });
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    clearTimeout(timer);
    await inFlight;
    await tick().catch((e) => note(`final tick failed: ${(e as Error).message}`));
    note(`${sig}: last row written, exiting`);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(2);
  });
}
