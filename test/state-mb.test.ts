// STATE_MB (issue 13): the stream server holds that much state, resident and kept dirty, so a
// checkpoint grows with it. A real server process on loopback; the RSS is the kernel's figure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { serverArgs } from '../experiments/workload/commands.ts';
import { freePort, startTs, workloadFile, type Proc } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';
import { parsePromText, sampleValue } from '../experiments/workload/promtext.ts';
import { projectDir } from './helpers/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'p4wl-state-'));
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop('SIGTERM', 3000);
  rmSync(dir, { recursive: true, force: true });
});

async function serverWithState(mb: number): Promise<{ stateBytes: number; rss: number }> {
  const ws = await freePort();
  const metrics = await freePort();
  const p = startTs(
    workloadFile('server'),
    ['--host', '127.0.0.1', '--port', String(ws), '--metrics-port', String(metrics), '--state-mb', String(mb)],
    join(dir, `server-${mb}.log`),
  );
  procs.push(p);
  await waitFor('server /health', async () => (await fetch(`http://127.0.0.1:${ws}/health`)).status === 200, 20_000, 200);
  const samples = parsePromText(await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text());
  return { stateBytes: sampleValue(samples, 'stream_state_bytes') ?? -1, rss: sampleValue(samples, 'stream_memory_bytes') ?? -1 };
}

describe('STATE_MB', () => {
  it('reaches the server command line only when set (default 0 keeps the published command)', () => {
    const at = (v: string) => serverArgs(loadConfig({ cwd: projectDir, env: {}, argv: ['--set', `STATE_MB=${v}`] }).config);
    expect(at('0')).not.toContain('--state-mb');
    expect(at('256').slice(-2)).toEqual(['--state-mb', '256']);
  });

  it('64 MB of state is resident: the RSS is at least 48 MB above a server without state (untouched memory would add ~0; the rest is heap noise)', async () => {
    const none = await serverWithState(0);
    const some = await serverWithState(64);
    expect(none.stateBytes).toBe(0);
    expect(some.stateBytes).toBe(64 << 20);
    expect(some.rss - none.rss).toBeGreaterThan(48 << 20);
  });
});
