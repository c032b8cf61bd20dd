// The stream server survives a CRIU checkpoint/restore of its container with live TCP connections:
// quiesce → checkpoint → restore → resume loses, duplicates and reorders nothing, leaves no ping
// unanswered, and does not burst catch-up frames after the freeze.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../lib/hosts/quote.ts';
import { isRoot } from './helpers/env.ts';
import { streamPair } from './helpers/stream-pair.ts';

if (!isRoot) console.warn('workload-criu.test: skipping: needs root (namespaces, podman, CRIU)');

const pair = streamPair({ tag: 'cr', subnet: '10.77.0' });
const { local, x, inServerNs: inS, container: C, nsClient: NS_C } = pair;

describe.skipIf(!isRoot)('stream server under CRIU (root)', () => {
  beforeAll(() => pair.setUp());
  afterAll(() => pair.tearDown());

  it('checkpoint/restore with established connections: nothing lost, no burst', async () => {
    const fps = 30,
      conns = 2,
      durationS = 10;
    await pair.startServer(['--fps', String(fps)]);
    const lg = local.exec(
      sh`ip netns exec ${NS_C} node ${join(pair.dist(), 'loadgen.mjs')} --url ws://${pair.serverIp}:8080/ --connections ${conns} --metrics-port 0 --duration ${durationS}s`,
      { quiet: true, timeoutMs: 40_000 },
    );
    await new Promise((r) => setTimeout(r, 2500));
    const scrapeMetrics = async () => {
      const r = await local.exec(
        sh`ip netns exec ${NS_C} curl -s --max-time 2 -w ${'\n%{http_code}'} http://${pair.serverIp}:8081/metrics`,
        { quiet: true, allowFail: true },
      );
      return { code: r.stdout.trim().split('\n').pop(), text: r.stdout };
    };
    expect((await scrapeMetrics()).code).toBe('200'); // the collector scrapes before the checkpoint too
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await x(sh`podman kill --signal USR2 ${C}`);
    await new Promise((r) => setTimeout(r, 300));
    await x(inS(sh`podman container checkpoint --keep --tcp-established ${C}`));
    expect((await x(sh`podman inspect --format {{.State.Status}} ${C}`)).stdout.trim()).toBe('exited');
    await x(inS(sh`podman container restore --keep --tcp-established ${C}`));
    await x(sh`podman kill --signal USR2 ${C}`);
    // The restored process's CPU usage restarts from zero: metrics must still answer, repeatedly.
    for (let i = 0; i < 3; i++) {
      const m = await scrapeMetrics();
      expect(m.code).toBe('200');
      expect(m.text).toMatch(/^stream_quiesced 0$/m);
    }
    const pausedS = (Date.now() - t0) / 1000;
    const out = (await lg).stdout;
    const summary = JSON.parse(/summary (\{.*\})/.exec(out)![1]) as Record<string, number>;
    expect(summary).toMatchObject({ framesLost: 0, framesDuplicated: 0, framesReordered: 0, drops: 0, pingsUnanswered: 0 });
    expect(out).toMatch(/first-data-after-gap conn=0 seq=\d+ gap_ms=\d+/);
    // No catch-up burst: never more frames than the paced rate over the unpaused time allows.
    const maxFrames = conns * fps * (durationS - pausedS) * 1.1 + conns * 5;
    expect(summary.framesReceived).toBeLessThanOrEqual(maxFrames);
    expect(summary.framesReceived).toBeGreaterThan(conns * fps * (durationS - pausedS - 2) * 0.8);
    const logs = (await x(sh`podman logs ${C}`)).stdout;
    expect(logs).toMatch(/quiesced: frames and echoes paused[\s\S]*resumed: frames and echoes flowing/);
  });
});
