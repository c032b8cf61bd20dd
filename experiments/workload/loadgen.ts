// Load generator: N WebSocket connections to the stream server, a ping every 100 ms on each,
// sequence checking of every data frame, Prometheus metrics for the collector. Runs on lakewood and
// reaches the server through the data path. Bundled to dist/remote/loadgen.mjs.
import { createServer } from 'node:http';
import WebSocket from 'ws';
import client from 'prom-client';
import { cliArgs, durationMs as ms, intIn } from '../../lib/run/cli.ts';
import { parseServerMessage } from './protocol.ts';
import {
  counts,
  finishPings,
  newSeqState,
  onFrame,
  onPingSent,
  onPong,
  sumCounts,
  sweepPings,
  type SeqCounts,
  type SeqState,
} from './seqcheck.ts';
import { meanAbs, summarize } from './rttstats.ts';
import { nowNs } from '../../lib/migration/timing.ts';
import { prometheusOptions } from './prometheus-options.ts';

// Durations: 200ms, 1.5s, 2m or a bare number of milliseconds.
const { values: args } = cliArgs({
  command: 'node loadgen.mjs',
  summary: 'Load generator: N WebSocket connections to the stream server, sequence checks, RTT pings, Prometheus metrics.',
  options: {
    url: { type: 'string', arg: 'URL', default: 'ws://127.0.0.1:8080/', help: 'stream server (ws://HOST:PORT/)' },
    connections: { type: 'string', arg: 'N', default: '4', parse: intIn(1, 100_000), help: 'connections (default 4)' },
    ramp: {
      type: 'string',
      arg: 'DURATION',
      default: '200ms',
      parse: ms,
      help: 'spread of the connection starts (default 200ms)',
    },
    'ping-interval': {
      type: 'string',
      arg: 'DURATION',
      default: '100ms',
      parse: ms,
      help: 'ping period per connection (default 100ms)',
    },
    'rtt-cap': {
      type: 'string',
      arg: 'DURATION',
      default: '1000ms',
      parse: ms,
      help: 'RTT samples above this are capped (default 1000ms)',
    },
    ...prometheusOptions,
    'pong-window': {
      type: 'string',
      arg: 'DURATION',
      default: '5s',
      parse: ms,
      help: 'a ping unanswered this long is lost (default 5s)',
    },
    'connect-attempts': {
      type: 'string',
      arg: 'N',
      default: '20',
      parse: intIn(1, 10_000),
      help: 'first-connect attempts per connection (default 20)',
    },
    'gap-log': {
      type: 'string',
      arg: 'DURATION',
      default: '200ms',
      parse: ms,
      help: 'log frame gaps longer than this (default 200ms)',
    },
    duration: {
      type: 'string',
      arg: 'DURATION',
      default: '0',
      parse: ms,
      help: 'stop after this long (default 0 = until signalled)',
    },
  },
});
const url = new URL(args.url);
if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`loadgen: --url "${args.url}" must be ws://HOST:PORT/`);
const nConns = args.connections;
const rampMs = args.ramp;
const pingMs = args['ping-interval'];
const rttCapMs = args['rtt-cap'];
const metricsPort = args['metrics-port'];
const pongWindowMs = args['pong-window'];
const connectAttempts = args['connect-attempts'];
const gapLogMs = args['gap-log'];
const durationMs = args.duration;
const BACKOFF_MIN = 500,
  BACKOFF_MAX = 3000;

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

interface Conn {
  id: number;
  ws?: WebSocket;
  open: boolean;
  everOpened: boolean;
  attempts: number;
  seq: SeqState;
  closed: SeqCounts[];
  pingSeq: number;
  lastRtt?: number;
  lastFrameAt?: number;
  lastPongAt?: number;
  timer?: NodeJS.Timeout;
  retry?: NodeJS.Timeout;
}
const conns: Conn[] = [];
let stopping = false;
let drops = 0;
let bytesReceived = 0;
let rtts: number[] = [];
let rttDiffs: number[] = [];
let staleRtts = 0;

const register = new client.Registry();
const g = (name: string, help: string) => new client.Gauge({ name, help, registers: [register] });
const m = {
  connected: g('loadgen_connected_clients', 'Open WebSocket connections'),
  avg: g('loadgen_rtt_avg_ms', 'Mean RTT over the last scrape interval (NaN when no sample)'),
  p50: g('loadgen_rtt_p50_ms', 'RTT p50 over the last scrape interval'),
  p95: g('loadgen_rtt_p95_ms', 'RTT p95 over the last scrape interval'),
  p99: g('loadgen_rtt_p99_ms', 'RTT p99 over the last scrape interval'),
  max: g('loadgen_rtt_max_ms', 'RTT max over the last scrape interval'),
  samples: g('loadgen_rtt_samples', 'RTT samples in the last scrape interval'),
  jitter: g('loadgen_jitter_ms', 'Mean absolute difference of consecutive RTTs in the last scrape interval'),
  bytes: g('loadgen_bytes_received_total', 'Payload bytes received'),
  drops: g('loadgen_connection_drops_total', 'Connections that closed after being open'),
  framesReceived: g('loadgen_frames_received_total', 'Data frames received'),
  framesLost: g('loadgen_frames_lost', 'Data frames skipped in the sequence and not seen later'),
  framesDuplicated: g('loadgen_frames_duplicated_total', 'Data frames received twice'),
  framesReordered: g('loadgen_frames_reordered_total', 'Data frames received after a later one'),
  pingsSent: g('loadgen_pings_sent_total', 'Pings sent'),
  pingsUnanswered: g('loadgen_pings_unanswered', 'Pings without a pong within the pong window'),
  pongsLate: g('loadgen_pongs_late_total', 'Pongs that arrived after the pong window'),
  staleRtts: g('loadgen_rtt_stale_total', 'RTTs discarded for exceeding the cap'),
  lastFrame: g('loadgen_last_frame_timestamp_ms', 'Wall-clock time (ms since epoch) of the last data frame received'),
};
const hist = new client.Histogram({
  name: 'loadgen_rtt_ms',
  help: 'RTT distribution (ms)',
  registers: [register],
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000],
});

const totals = (): SeqCounts => sumCounts(conns.flatMap((c) => [...c.closed, counts(c.seq)]));

function onMessage(c: Conn, data: WebSocket.RawData): void {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  bytesReceived += buf.length;
  const msg = parseServerMessage(buf.toString());
  if (!msg) return;
  if (msg.type === 'data') {
    const now = Date.now();
    const gapMs = c.lastFrameAt === undefined ? 0 : now - c.lastFrameAt;
    // at_ns on the same clock as the migration's *_ns marks (nowNs), so the analysis can place it
    // against switch_update_done_ns with sub-millisecond resolution
    if (gapMs > gapLogMs) log(`first-data-after-gap conn=${c.id} seq=${msg.seq} gap_ms=${gapMs} at_ns=${nowNs()}`);
    c.lastFrameAt = now;
    const lost = onFrame(c.seq, msg.seq);
    if (lost) log(`conn ${c.id}: ${lost} frame(s) missing before seq ${msg.seq}`);
    return;
  }
  if (onPong(c.seq, msg.seq) === 'unexpected') return;
  const rtt = Number(process.hrtime.bigint() - BigInt(msg.client_ts)) / 1e6;
  // the client→server direction: pings sent into a freeze wait for the client's TCP retransmission
  // timer (exponential backoff), so pongs resume later than data frames do (the RTO stall)
  const nowPong = Date.now();
  const pongGap = c.lastPongAt === undefined ? 0 : nowPong - c.lastPongAt;
  if (pongGap > gapLogMs)
    log(`first-pong-after-gap conn=${c.id} seq=${msg.seq} gap_ms=${pongGap} rtt_ms=${rtt.toFixed(3)} at_ns=${nowNs()}`);
  c.lastPongAt = nowPong;
  if (!(rtt >= 0) || rtt > rttCapMs) {
    staleRtts++;
    return;
  }
  rtts.push(rtt);
  hist.observe(rtt);
  if (c.lastRtt !== undefined) rttDiffs.push(rtt - c.lastRtt);
  c.lastRtt = rtt;
}

function ping(c: Conn): void {
  sweepPings(c.seq, performance.now(), pongWindowMs);
  if (!c.open || !c.ws) return;
  const seq = c.pingSeq++;
  c.ws.send(JSON.stringify({ type: 'ping', seq, ts: process.hrtime.bigint().toString() }));
  onPingSent(c.seq, seq, performance.now());
}

function backoff(attempt: number): number {
  return Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** Math.max(0, attempt - 1));
}

function connect(c: Conn): void {
  if (stopping) return;
  c.attempts++;
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
  c.ws = ws;
  // Keepalive 1 s like the original, so a dead path is noticed while the migration is in flight.
  ws.once('upgrade', (res) => res.socket.setKeepAlive(true, 1000));
  ws.on('open', () => {
    c.open = true;
    c.everOpened = true;
    c.attempts = 0;
    c.pingSeq = 0;
    c.lastRtt = undefined;
    c.lastPongAt = undefined;
    log(`conn ${c.id} open`);
    c.timer = setInterval(() => ping(c), pingMs);
  });
  ws.on('message', (data) => onMessage(c, data));
  ws.on('error', (err) => log(`conn ${c.id} error: ${err.message}`));
  ws.on('close', (code, reason) => {
    clearInterval(c.timer);
    const wasOpen = c.open;
    c.open = false;
    if (wasOpen) {
      // A new session restarts the server's sequence at 0: keep the old session's figures as totals.
      finishPings(c.seq);
      c.closed.push(counts(c.seq));
      c.seq = newSeqState();
    }
    if (stopping) return;
    if (wasOpen) {
      drops++;
      log(`conn ${c.id} dropped (code ${code}${reason.length ? ', ' + reason.toString() : ''}); reconnecting`);
    }
    if (!c.everOpened && c.attempts >= connectAttempts) {
      log(`conn ${c.id}: gave up after ${c.attempts} attempts to reach ${url.href}`);
      if (conns.every((x) => !x.everOpened && !x.open && x.attempts >= connectAttempts)) shutdown(1);
      return;
    }
    c.retry = setTimeout(() => connect(c), backoff(c.attempts));
  });
}

async function metricsText(): Promise<string> {
  const r = summarize(rtts);
  const jitter = meanAbs(rttDiffs);
  rtts = [];
  rttDiffs = [];
  const t = totals();
  m.connected.set(conns.filter((c) => c.open).length);
  m.avg.set(r.avg);
  m.p50.set(r.p50);
  m.p95.set(r.p95);
  m.p99.set(r.p99);
  m.max.set(r.max);
  m.samples.set(r.count);
  m.jitter.set(jitter);
  m.bytes.set(bytesReceived);
  m.drops.set(drops);
  m.staleRtts.set(staleRtts);
  m.framesReceived.set(t.framesReceived);
  m.framesLost.set(t.framesLost);
  m.framesDuplicated.set(t.framesDuplicated);
  m.framesReordered.set(t.framesReordered);
  m.pingsSent.set(t.pingsSent);
  m.pingsUnanswered.set(t.pingsUnanswered);
  m.pongsLate.set(t.pongsLate);
  const last = Math.max(...conns.map((c) => c.lastFrameAt ?? NaN).filter((x) => !Number.isNaN(x)));
  m.lastFrame.set(Number.isFinite(last) ? last : NaN);
  return register.metrics();
}

const metricsHttp = createServer(async (req, res) => {
  if (req.url?.split('?')[0] !== '/metrics') {
    res.writeHead(404).end('try /metrics\n');
    return;
  }
  res.writeHead(200, { 'content-type': register.contentType }).end(await metricsText());
});
metricsHttp.on('error', (err) => {
  log(`metrics on ${args['metrics-listen']}:${metricsPort} failed: ${err.message}`);
  process.exit(1);
});
metricsHttp.listen(metricsPort, args['metrics-listen'], () => {
  const a = metricsHttp.address();
  log(`metrics listening on ${args['metrics-listen']}:${typeof a === 'object' && a ? a.port : metricsPort}`);
});

function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of conns) {
    clearInterval(c.timer);
    clearTimeout(c.retry);
    finishPings(c.seq);
    c.ws?.terminate();
  }
  const t = totals();
  log(`summary ${JSON.stringify({ ...t, drops, bytesReceived, staleRtts, connections: nConns })}`);
  metricsHttp.close();
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));

log(`loadgen pid ${process.pid}: ${nConns} connection(s) to ${url.href}, ping every ${pingMs} ms`);
for (let i = 0; i < nConns; i++) {
  const c: Conn = { id: i, open: false, everOpened: false, attempts: 0, seq: newSeqState(), closed: [], pingSeq: 0 };
  conns.push(c);
  setTimeout(() => connect(c), i * rampMs);
}
if (durationMs > 0) setTimeout(() => shutdown(0), durationMs);
