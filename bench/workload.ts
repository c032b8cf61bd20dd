// Benchmark: stream server capacity on this machine (loopback, bundled programs as on the hosts).
// Figures: server CPU % at 4 and 64 connections (30 fps, 512 B padding), and the largest connection
// count the server sustains at 30 fps with p99 RTT under 10 ms (doubling from 4 up to 512, then
// bisecting; each step measures 3 s). Baselines: the experiment's default load (4 connections,
// LOADGEN_CONNECTIONS) and the published hardware steady RTT (0.28–0.35 ms avg).
// The load generator runs on the same 2 cores, so the figures are a lower bound for the server.
//   npx tsx bench/workload.ts [--max 512] [--measure-ms 3000]
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { bundleRemote } from '../lib/hosts/bundle.ts';
import { freePort } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';
import { sampleValue, scrapeMetrics } from '../experiments/workload/promtext.ts';
import { cliArgs, intIn } from '../lib/run/cli.ts';

const { values: args } = cliArgs({
  command: 'npx tsx bench/workload.ts',
  options: {
    max: { type: 'string', arg: 'N', default: '512', parse: intIn(4, 4096), help: 'most connections to try (default 512)' },
    'measure-ms': {
      type: 'string',
      arg: 'MS',
      default: '3000',
      parse: intIn(500, 5000),
      help: 'measuring time per step (default 3000)',
    },
  },
});
const MAX = args.max;
const MEASURE_MS = args['measure-ms'];
const FPS = 30;
const P99_LIMIT_MS = 10;
const DEFAULT_CONNS = 4;
const PUBLISHED_RTT_AVG_MS = 0.35;

const dist = await bundleRemote(resolve(import.meta.dirname, '..'), { require: ['stream-server.mjs', 'loadgen.mjs'] });
const children: ChildProcess[] = [];
const startNode = (file: string, a: string[]) => {
  const c = spawn(process.execPath, [join(dist, file), ...a], { stdio: 'ignore' });
  children.push(c);
  return c;
};
const stop = async (c: ChildProcess) => {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), 3000);
  await done;
  clearTimeout(t);
};
const scrape = (port: number) => scrapeMetrics(`http://127.0.0.1:${port}/metrics`, 3000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Step {
  conns: number;
  connected: number;
  cpu: number;
  p99: number;
  avg: number;
  fpsPerConn: number;
  lost: number;
  ok: boolean;
}

async function measure(srvMetrics: number, wsPort: number, conns: number): Promise<Step> {
  const lgPort = await freePort();
  const lg = startNode('loadgen.mjs', [
    '--url',
    `ws://127.0.0.1:${wsPort}/`,
    '--connections',
    String(conns),
    '--ramp',
    `${Math.max(1, Math.min(200, Math.floor(1000 / conns)))}ms`,
    '--metrics-port',
    String(lgPort),
  ]);
  try {
    let connected = 0;
    await waitFor(
      `${conns} connections`,
      async () => {
        connected = sampleValue(await scrape(lgPort), 'loadgen_connected_clients') ?? 0;
        return connected >= conns;
      },
      10_000,
      250,
    ).catch(() => undefined);
    await sleep(500); // settle after the ramp
    await scrape(lgPort);
    await scrape(srvMetrics); // start the interval on both
    const f0 = sampleValue(await scrape(lgPort), 'loadgen_frames_received_total') ?? 0;
    const t0 = performance.now();
    await sleep(MEASURE_MS);
    const [l, s] = [await scrape(lgPort), await scrape(srvMetrics)];
    const secs = (performance.now() - t0) / 1000;
    const frames = (sampleValue(l, 'loadgen_frames_received_total') ?? 0) - f0;
    const fpsPerConn = frames / secs / Math.max(1, connected);
    const p99 = sampleValue(l, 'loadgen_rtt_p99_ms') ?? NaN;
    const lost = sampleValue(l, 'loadgen_frames_lost') ?? NaN;
    return {
      conns,
      connected,
      cpu: sampleValue(s, 'stream_cpu_percent') ?? NaN,
      p99,
      avg: sampleValue(l, 'loadgen_rtt_avg_ms') ?? NaN,
      fpsPerConn,
      lost,
      ok: connected === conns && p99 < P99_LIMIT_MS && fpsPerConn >= FPS * 0.9 && lost === 0,
    };
  } finally {
    await stop(lg);
  }
}

const fmt = (s: Step) =>
  `${String(s.conns).padStart(4)} conns: ${s.connected === s.conns ? 'all connected' : `${s.connected} connected`}, server CPU ${s.cpu.toFixed(1)} %, ` +
  `RTT avg ${s.avg.toFixed(2)} ms p99 ${s.p99.toFixed(2)} ms, ${s.fpsPerConn.toFixed(1)} fps/conn, lost ${s.lost} → ${s.ok ? 'sustained' : 'NOT sustained'}`;

const [wsPort, srvMetrics] = [await freePort(), await freePort()];
const server = startNode('stream-server.mjs', [
  '--host',
  '127.0.0.1',
  '--port',
  String(wsPort),
  '--metrics-port',
  String(srvMetrics),
  '--fps',
  String(FPS),
]);
try {
  await waitFor('server /health', async () => (await fetch(`http://127.0.0.1:${wsPort}/health`)).ok, 10_000, 200);
  console.log(
    `stream server benchmark: loopback, ${FPS} fps, 512 B padding, ${MEASURE_MS} ms per step (load generator shares the CPU)`,
  );
  const at4 = await measure(srvMetrics, wsPort, 4);
  console.log(fmt(at4));
  const at64 = await measure(srvMetrics, wsPort, 64);
  console.log(fmt(at64));
  console.log(
    `  CPU at 64 = ${(at64.cpu / at4.cpu).toFixed(1)} × CPU at the default ${DEFAULT_CONNS} connections; ${(at64.cpu / 64).toFixed(2)} % per connection`,
  );
  console.log(
    `  RTT avg at 4 = ${(at4.avg / PUBLISHED_RTT_AVG_MS).toFixed(2)} × the published hardware steady RTT (${PUBLISHED_RTT_AVG_MS} ms)`,
  );

  // Capacity search: doubling, then bisecting between the last sustained and the first failed count.
  let good = at4.ok ? 4 : 0;
  let bad = 0;
  for (let n = 8; n <= MAX; n *= 2) {
    const s = n === 64 ? at64 : await measure(srvMetrics, wsPort, n);
    if (n !== 64) console.log(fmt(s));
    if (s.ok) good = n;
    else {
      bad = n;
      break;
    }
  }
  for (let i = 0; i < 3 && bad && bad - good > Math.max(2, good / 8); i++) {
    const n = Math.round((good + bad) / 2);
    const s = await measure(srvMetrics, wsPort, n);
    console.log(fmt(s));
    if (s.ok) good = n;
    else bad = n;
  }
  const bound = bad ? `between ${good} and ${bad}` : `at least ${good} (search limit --max ${MAX})`;
  console.log(
    `capacity: largest count sustained at ${FPS} fps with p99 < ${P99_LIMIT_MS} ms: ${good} (${bound}) = ${(good / DEFAULT_CONNS).toFixed(0)} × the default load of ${DEFAULT_CONNS} connections`,
  );
} finally {
  await stop(server);
  for (const c of children) await stop(c);
}
