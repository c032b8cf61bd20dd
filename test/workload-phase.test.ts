// The workload and steady phases and stopWorkload, run for real with every host being this machine
// (lakewood = local host, server on loopback standing in for H2_IP): the SSH-free path of the same code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../lib/config/load.ts';
import { createContext, type RunContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { createCleanup, type Cleanup } from '../lib/run/cleanup.ts';
import { openState } from '../lib/run/rundir.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { freePort, startTs, workloadFile, type Proc } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';
import { phase as workload } from '../experiments/phases/workload.ts';
import { stopWorkload, STATE_KEY, type WorkloadState } from '../experiments/workload/lifecycle.ts';
import { markCollector } from '../lib/migration/podman.ts';
import { ensureLocalNetTool, NETTOOL } from '../lib/nettool/index.ts';
import { phase as steady } from '../experiments/phases/steady.ts';
import { isRunning } from './helpers/env.ts';

const projectDir = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'p4wl-phase-'));
const runDir = join(tmp, 'run');
let server: Proc;
let ctx: RunContext;
let cleanup: Cleanup;

beforeAll(async () => {
  const p = { sig: await freePort(), met: await freePort(), lg: await freePort(), t1: await freePort(), t2: await freePort() };
  server = startTs(
    workloadFile('server'),
    ['--host', '127.0.0.1', '--port', String(p.sig), '--metrics-port', String(p.met)],
    join(tmp, 'server.log'),
  );
  const loaded = loadConfig({
    cwd: projectDir,
    env: {
      H2_IP: '127.0.0.1',
      SIGNALING_PORT: String(p.sig),
      METRICS_PORT: String(p.met),
      LOADGEN_METRICS_PORT: String(p.lg),
      SSH_TUNNEL_LOCAL_PORT: String(p.t1),
      SSH_TUNNEL_METRICS_PORT: String(p.t2),
      LOADGEN_CONNECTIONS: '2',
      METRICS_INTERVAL: '300ms',
      STEADY_STATE: '1500ms',
      REMOTE_PROJECT_DIR: join(tmp, '{host}'),
    },
  });
  const log = createLogger({ silent: true });
  cleanup = createCleanup({ log });
  const { copyFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(runDir, { recursive: true });
  // what the sync phase (not run here) ships to lakewood: p4cf-net, which the health gate runs
  mkdirSync(join(tmp, 'lakewood'), { recursive: true });
  copyFileSync(await ensureLocalNetTool(), join(tmp, 'lakewood', NETTOOL));
  ctx = createContext({
    loaded,
    dir: runDir,
    log,
    cleanup,
    state: openState(join(runDir, 'state.json')),
    makeHost: (name) => createLocalHost({ log, cleanup }, name),
  });
});

afterAll(async () => {
  await cleanup?.runAll('test end');
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('workload phase → steady → stopWorkload', () => {
  it('starts load generator, forwards and collector; steady waits; stop keeps the order and fetches loadgen.log', async () => {
    await workload.run(ctx);
    const st = ctx.state.get<WorkloadState>(STATE_KEY)!;
    expect(st.loadgenPid).toBeGreaterThan(1);
    expect(isRunning(st.loadgenPid) && isRunning(st.collectorPid)).toBe(true);
    expect(JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8'))[STATE_KEY].collectorPid).toBe(st.collectorPid);

    await steady.run(ctx);
    await markCollector({ ctx }); // what every migration's post-switch step does
    await waitFor('mark consumed', () => !existsSync(st.markFile), 3000);
    const stopAt = Date.now();
    await stopWorkload(ctx);
    expect(isRunning(st.loadgenPid)).toBe(false);
    expect(isRunning(st.collectorPid)).toBe(false);

    const lines = readFileSync(st.csv, 'utf8').trim().split('\n');
    const header = lines[0].split(',');
    const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i], v])));
    expect(rows.length).toBeGreaterThanOrEqual(5); // 1.5 s steady at 300 ms
    expect(rows.filter((r) => r.migration_event === '1')).toHaveLength(1);
    const last = rows.at(-1)!;
    // The collector stopped first: its last row still saw the load generator connected.
    expect(Number(last.timestamp_unix_milli)).toBeGreaterThanOrEqual(stopAt);
    expect(last.lg_connected_clients).toBe('2');
    expect(last.connected_clients).toBe('2');
    expect(last.frames_lost).toBe('0');
    expect(Number(last.frames_received)).toBeGreaterThan(0);

    const lg = readFileSync(join(runDir, 'loadgen.log'), 'utf8');
    const summary = JSON.parse(/summary (\{.*\})/.exec(lg)![1]) as Record<string, number>;
    expect(summary).toMatchObject({ framesLost: 0, framesDuplicated: 0, drops: 0 });
    expect(ctx.state.get<WorkloadState>(STATE_KEY)!.stopped).toBe(true);
    await stopWorkload(ctx); // idempotent
  });
});
