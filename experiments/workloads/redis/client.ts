// The redis workload's client (bundled as dist/remote/redis-client.mjs, run on lakewood like the
// stream load generator): N connections, each writing sequence-numbered keys and reading back
// (a) the key it acknowledged `lag` ticks ago, so a write acknowledged just before a migration is
// read just after it, and (b) a cursor sweeping over every acknowledged key, again and again. Counts failed
// commands, lost writes (acknowledged, read back as nil), stale reads (another value), reconnects
// and latency; serves them, with the server's INFO figures, as Prometheus text.
//   node redis-client.mjs --host IP --port 6379 --connections 4 --rate 30 --ramp 200ms \
//        --metrics-port 9090 --metrics-listen 127.0.0.1 [--state-mb 64]
// SIGTERM: stop writing, read back every acknowledged key once more, print `summary {json}`, exit 0.
// This file is the CLI and the /metrics server; the client's logic is in load.ts, its Prometheus text in metrics.ts.
import { createServer, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { summarize } from '../../workload/rttstats.ts';
import { cliArgs, durationMs, intIn } from '../../../lib/run/cli.ts';
import { type ClientOptions, startClient } from './load.ts';
import { metricsText } from './metrics.ts';
import { prometheusOptions } from '../../workload/prometheus-options.ts';

// The client's parts, importable from the bundle entry as before they moved.
export { metricsText } from './metrics.ts';
export { startClient } from './load.ts';

async function main(): Promise<void> {
  const { values: a } = cliArgs({
    command: 'node redis-client.mjs',
    summary: 'The redis workload client: N connections writing sequence-numbered keys and reading them back, Prometheus metrics.',
    options: {
      host: { type: 'string', arg: 'IP', required: true, help: 'redis server address' },
      port: { type: 'string', arg: 'PORT', default: '6379', parse: intIn(1, 65535), help: 'redis port (default 6379)' },
      connections: { type: 'string', arg: 'N', default: '4', parse: intIn(1, 100_000), help: 'connections (default 4)' },
      rate: {
        type: 'string',
        arg: 'N',
        default: '30',
        parse: intIn(1, 100_000),
        help: 'ticks per second per connection (default 30)',
      },
      ramp: {
        type: 'string',
        arg: 'DURATION',
        default: '200ms',
        parse: durationMs,
        help: 'pause between opening two connections (default 200ms)',
      },
      lag: {
        type: 'string',
        arg: 'N',
        default: '30',
        parse: intIn(0, 1_000_000),
        help: 'ticks between writing a key and its lagged read (default 30)',
      },
      ...prometheusOptions,
      'gap-log': {
        type: 'string',
        arg: 'DURATION',
        default: '200ms',
        parse: durationMs,
        help: 'log SETs answered after longer than this (default 200ms)',
      },
      'state-mb': {
        type: 'string',
        arg: 'MB',
        default: '0',
        parse: intIn(0, 1 << 16),
        help: 'MB preloaded into redis (STATE_MB; default 0)',
      },
    },
  });
  const log = (m: string) => console.log(`${new Date().toISOString()} ${m}`);
  const o: ClientOptions = {
    host: a.host,
    port: a.port,
    connections: a.connections,
    rate: a.rate,
    rampMs: a.ramp,
    lag: a.lag,
    stateMb: a['state-mb'],
    gapLogMs: a['gap-log'],
    log,
  };
  const client = startClient(o);
  const http: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(metricsText(client.counters(), client.takeLatencies(), client.info(), o.connections));
  });
  http.on('error', (e) => {
    log(`metrics on ${a['metrics-listen']}:${a['metrics-port']} failed: ${e.message}`);
    process.exit(1);
  });
  http.listen(a['metrics-port'], a['metrics-listen'], () =>
    log(`metrics listening on ${a['metrics-listen']}:${a['metrics-port']}`),
  );
  client.ready.catch((e) => {
    log(`start failed: ${(e as Error).message}`);
    process.exit(1);
  });
  let down = false;
  const shutdown = async (sig: string) => {
    if (down) return;
    down = true;
    await client.stop();
    let final: unknown;
    try {
      final = await client.finalCheck();
    } catch (e) {
      final = { error: (e as Error).message };
    }
    const l = summarize(client.allLatencies());
    log(
      `${sig}: summary ${JSON.stringify({ ...client.counters(), final_check: final, latency_ms: { p50: l.p50, p95: l.p95, p99: l.p99, max: l.max, n: l.count } })}`,
    );
    http.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(2);
  });
}
