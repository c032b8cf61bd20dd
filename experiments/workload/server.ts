// Stream server: runs as PID 1 in the migrated container. Sends sequenced data frames to every
// WebSocket client, echoes pings, and pauses both on SIGUSR2 (quiesce) so the TCP send queues are
// empty when CRIU checkpoints it. Bundled to dist/remote/stream-server.mjs: no repo-relative paths.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import client from 'prom-client';
import { cliArgs, intIn } from '../../lib/run/cli.ts';
import { encodeData, encodePong, parsePing } from './protocol.ts';

const { values: args } = cliArgs({
  command: 'node stream-server.mjs',
  summary: 'Stream server: sequenced data frames to every WebSocket client, ping echoes; SIGUSR2 pauses both (quiesce).',
  options: {
    port: { type: 'string', arg: 'PORT', default: '8080', parse: intIn(1, 65535), help: 'WebSocket port (default 8080)' },
    'metrics-port': {
      type: 'string',
      arg: 'PORT',
      default: '8081',
      parse: intIn(1, 65535),
      help: 'Prometheus and /health port (default 8081)',
    },
    host: { type: 'string', arg: 'ADDR', default: '0.0.0.0', help: 'listen address (default 0.0.0.0)' },
    fps: { type: 'string', arg: 'N', default: '30', parse: intIn(1, 1000), help: 'frames per second per client (default 30)' },
    padding: { type: 'string', arg: 'BYTES', default: '512', parse: intIn(0, 1 << 20), help: 'padding per frame (default 512)' },
    'echo-queue': {
      type: 'string',
      arg: 'N',
      default: '256',
      parse: intIn(1, 1 << 20),
      help: 'pongs queued per client at most (default 256)',
    },
    'max-buffered': {
      type: 'string',
      arg: 'BYTES',
      default: String(1 << 20),
      parse: intIn(1024, 1 << 30),
      help: 'skip frames to a client with more unsent (default 1 MiB)',
    },
    'state-mb': {
      type: 'string',
      arg: 'MB',
      default: '0',
      parse: intIn(0, 1 << 16),
      help: 'MB of application state held and kept dirty (STATE_MB; default 0)',
    },
  },
});
const port = args.port;
const metricsPort = args['metrics-port'];
const fps = args.fps;
const pad = 'x'.repeat(args.padding);
const echoQueueMax = args['echo-queue'];
const maxBuffered = args['max-buffered'];
const stateMb = args['state-mb'];
// Like the original: a writer gives up on a client only after this many write errors in a row.
const MAX_WRITE_ERRORS = 30;

const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);

const register = new client.Registry();
client.collectDefaultMetrics({ register });
// prom-client's CPU counters add process.cpuUsage() deltas; after a CRIU restore the kernel's rusage
// of the restored process starts again from zero, the delta is negative and the counter throws on
// every scrape ("It is not possible to decrease a counter"). Replace them with reset-safe gauges.
for (const name of ['process_cpu_user_seconds_total', 'process_cpu_system_seconds_total', 'process_cpu_seconds_total']) {
  register.removeSingleMetric(name);
}
const gauge = (name: string, help: string) => new client.Gauge({ name, help, registers: [register] });
const m = {
  connected: gauge('stream_connected_clients', 'Open WebSocket connections'),
  total: new client.Counter({
    name: 'stream_total_clients',
    help: 'WebSocket connections accepted since start',
    registers: [register],
  }),
  bytesSent: new client.Counter({
    name: 'stream_bytes_sent_total',
    help: 'Payload bytes written to clients',
    registers: [register],
  }),
  bytesReceived: new client.Counter({
    name: 'stream_bytes_received_total',
    help: 'Payload bytes received from clients',
    registers: [register],
  }),
  framesSent: new client.Counter({ name: 'stream_frames_sent_total', help: 'Data frames written', registers: [register] }),
  echoDropped: new client.Counter({
    name: 'stream_echo_dropped_total',
    help: 'Echoes dropped because the bounded echo queue was full',
    registers: [register],
  }),
  quiesced: gauge('stream_quiesced', '1 while quiesced (SIGUSR2)'),
  uptime: gauge('stream_uptime_seconds', 'Seconds since the server started (wall clock)'),
  cpu: gauge('stream_cpu_percent', 'CPU use of this process since the previous scrape, percent of one core'),
  memory: gauge('stream_memory_bytes', 'Resident set size'),
  cpuSeconds: gauge(
    'stream_cpu_seconds',
    'User+system CPU seconds of this process as the kernel counts them (restarts from 0 after a CRIU restore)',
  ),
  stateBytes: gauge('stream_state_bytes', 'Application state held and kept dirty (--state-mb)'),
  buffered: gauge(
    'stream_buffered_bytes',
    'Bytes written by the server and not yet handed to the kernel, summed over the connections (ws bufferedAmount)',
  ),
  echoQueued: gauge('stream_echo_queued', 'Pongs waiting in the echo queues, summed over the connections'),
  restores: new client.Counter({
    name: 'stream_cpu_clock_resets_total',
    help: 'Times the CPU usage went backwards (a CRIU restore)',
    registers: [register],
  }),
};

interface Conn {
  ws: WebSocket;
  id: number;
  seq: number;
  echoes: string[];
  writeErrors: number;
}
const conns = new Set<Conn>();
let quiesced = false;
let nextId = 0;
const startedAt = Date.now();

function write(c: Conn, msg: string, isFrame: boolean): void {
  const bytes = Buffer.byteLength(msg);
  c.ws.send(msg, (err) => {
    if (err) {
      if (++c.writeErrors >= MAX_WRITE_ERRORS) {
        log(`client ${c.id}: ${c.writeErrors} consecutive write errors (last: ${err.message}); closing`);
        c.ws.terminate();
      }
      return;
    }
    c.writeErrors = 0;
    m.bytesSent.inc(bytes);
    if (isFrame) m.framesSent.inc();
  });
}

function flushEchoes(c: Conn): void {
  while (c.echoes.length && c.ws.readyState === WebSocket.OPEN && c.ws.bufferedAmount < maxBuffered) {
    write(c, c.echoes.shift()!, false);
  }
}

// Application state for checkpoint-size studies (STATE_MB): touched once at start so every page is
// resident (and in the checkpoint), then kept dirty — each tick rewrites the next pages in turn, so
// an iterative or lazy engine cannot treat the state as cold.
const PAGE = 4096;
const DIRTY_PAGES_PER_TICK = 64;
const state: Buffer[] = Array.from({ length: stateMb }, (_, i) => Buffer.alloc(1 << 20, (i * 31 + 7) & 0xff));
let dirtyCursor = 0;
function dirtyState(): void {
  if (!state.length) return;
  const pagesPerMb = (1 << 20) / PAGE;
  for (let k = 0; k < DIRTY_PAGES_PER_TICK; k++) {
    const page = dirtyCursor++ % (state.length * pagesPerMb);
    const buf = state[Math.floor(page / pagesPerMb)];
    buf[(page % pagesPerMb) * PAGE] = (buf[(page % pagesPerMb) * PAGE] + 1) & 0xff;
  }
}

function tick(): void {
  if (quiesced) return;
  dirtyState();
  for (const c of conns) {
    if (c.ws.readyState !== WebSocket.OPEN) continue;
    flushEchoes(c);
    // Backpressure: skip this frame rather than queue without bound; the sequence number only
    // advances on frames actually written, so skipping never shows up as loss.
    if (c.ws.bufferedAmount >= maxBuffered) continue;
    write(c, encodeData(c.seq++, pad), true);
  }
}

// Self-scheduling ticker on the monotonic clock. After a CRIU restore (or any stall) the clock has
// jumped: re-anchor instead of firing a burst of catch-up frames.
const period = 1000 / fps;
let nextAt = performance.now() + period;
let timer: NodeJS.Timeout | undefined;
function schedule(): void {
  const now = performance.now();
  let delay = nextAt - now;
  if (delay < -period || delay > 2 * period) {
    nextAt = now + period;
    delay = period;
  }
  timer = setTimeout(
    () => {
      nextAt += period;
      tick();
      schedule();
    },
    Math.max(0, delay),
  );
}

function setQuiesced(on: boolean): void {
  quiesced = on;
  m.quiesced.set(on ? 1 : 0);
  log(on ? 'quiesced: frames and echoes paused' : 'resumed: frames and echoes flowing');
  if (!on) {
    nextAt = performance.now() + period;
    for (const c of conns) flushEchoes(c);
  }
}

function health(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: 'ok', clients: conns.size, quiesced, uptime_s: (Date.now() - startedAt) / 1000 }));
}

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url?.split('?')[0] === '/health') return health(req, res);
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /health or a WebSocket upgrade\n');
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const c: Conn = { ws, id: nextId++, seq: 0, echoes: [], writeErrors: 0 };
  conns.add(c);
  m.total.inc();
  m.connected.set(conns.size);
  log(`client ${c.id} connected from ${req.socket.remoteAddress}:${req.socket.remotePort} (${conns.size} open)`);
  ws.on('message', (data, isBinary) => {
    const len = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    m.bytesReceived.inc(len);
    if (isBinary) return;
    const ping = parsePing(data.toString());
    if (!ping) return;
    if (c.echoes.length >= echoQueueMax) {
      c.echoes.shift();
      m.echoDropped.inc();
    }
    c.echoes.push(encodePong(ping));
    if (!quiesced) flushEchoes(c);
  });
  ws.on('error', (err) => log(`client ${c.id} error: ${err.message}`));
  ws.on('close', (code) => {
    conns.delete(c);
    m.connected.set(conns.size);
    log(`client ${c.id} closed (code ${code}, ${conns.size} open)`);
  });
});

let lastCpu = process.cpuUsage();
let lastCpuAt = performance.now();
const metricsHttp = createServer(async (req, res) => {
  if (req.url?.split('?')[0] !== '/metrics') {
    res.writeHead(404).end('try /metrics\n');
    return;
  }
  const now = performance.now();
  const cpu = process.cpuUsage();
  const wallUs = (now - lastCpuAt) * 1000;
  const usedUs = cpu.user - lastCpu.user + cpu.system - lastCpu.system;
  // Restored process: rusage (and maybe the monotonic clock) restarted; skip this window.
  if (usedUs < 0 || wallUs <= 0) {
    m.restores.inc();
    m.cpu.set(NaN);
  } else m.cpu.set((100 * usedUs) / wallUs);
  m.cpuSeconds.set((cpu.user + cpu.system) / 1e6);
  lastCpu = cpu;
  lastCpuAt = now;
  m.memory.set(process.memoryUsage().rss);
  m.uptime.set((Date.now() - startedAt) / 1000);
  m.connected.set(conns.size);
  let buffered = 0,
    queued = 0;
  for (const c of conns) {
    buffered += c.ws.bufferedAmount;
    queued += c.echoes.length;
  }
  m.buffered.set(buffered);
  m.echoQueued.set(queued);
  try {
    const text = await register.metrics();
    res.writeHead(200, { 'content-type': register.contentType }).end(text);
  } catch (e) {
    // A broken metric must never take the server down: answer 500 and keep streaming.
    log(`metrics scrape failed: ${(e as Error).message}`);
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`);
  }
});

function listen(server: ReturnType<typeof createServer>, p: number, what: string): void {
  server.on('error', (err) => {
    log(`${what} on ${args.host}:${p} failed: ${err.message}`);
    process.exit(1);
  });
  server.listen(p, args.host, () => log(`${what} listening on ${args.host}:${p}`));
}
listen(http, port, 'websocket+health');
listen(metricsHttp, metricsPort, 'metrics');
m.quiesced.set(0);
m.stateBytes.set(stateMb << 20);
schedule();

process.on('SIGUSR2', () => setQuiesced(!quiesced));
// PID 1 of the experiment: a stray rejection is logged, not allowed to end the migrated server.
process.on('unhandledRejection', (e) => log(`unhandled rejection: ${(e as Error)?.stack ?? String(e)}`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    log(`${sig}: exiting`);
    clearTimeout(timer);
    for (const c of conns) c.ws.terminate();
    http.close();
    metricsHttp.close();
    process.exit(0);
  });
}
log(
  `stream server pid ${process.pid}: ${fps} fps, ${pad.length} B padding${stateMb ? `, ${stateMb} MB of state (${DIRTY_PAGES_PER_TICK} pages rewritten per frame tick)` : ''}`,
);
