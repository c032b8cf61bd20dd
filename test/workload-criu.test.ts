// The stream server survives a CRIU checkpoint/restore of its container with live TCP connections:
// quiesce → checkpoint → restore → resume loses, duplicates and reorders nothing, leaves no ping
// unanswered, and does not burst catch-up frames after the freeze.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot } from './helpers/env.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { sh } from '../lib/hosts/quote.ts';
import { bundleRemote } from '../lib/hosts/bundle.ts';
import { ensureServerImage } from '../experiments/workload/image.ts';
import { waitFor } from '../lib/run/poll.ts';

if (!isRoot) console.warn('workload-criu.test: skipping: needs root (namespaces, podman, CRIU)');

const projectDir = resolve(import.meta.dirname, '..');
const IMAGE = 'localhost/p4wl-stream-server:criu';
const C = 'p4wl-crsrv';
const NS_S = 'p4wl-crs',
  NS_C = 'p4wl-crc';
const tmp = mkdtempSync(join(tmpdir(), 'p4wl-criu-'));
const local = createLocalHost();
const x = (cmd: string) => local.exec(cmd, { quiet: true });
const inS = (cmd: string) => `nsenter --net=/run/netns/${NS_S} ${cmd}`;

describe.skipIf(!isRoot)('stream server under CRIU (root)', () => {
  let dist: string;
  beforeAll(async () => {
    dist = await bundleRemote(projectDir, { require: ['stream-server.mjs', 'loadgen.mjs'] });
    await ensureServerImage(local, { image: IMAGE, bundleFile: join(dist, 'stream-server.mjs'), workDir: join(tmp, 'build') });
    await x(
      [
        sh`ip netns add ${NS_S}`,
        sh`ip netns add ${NS_C}`,
        sh`ip link add p4wl-cra netns ${NS_S} type veth peer name p4wl-crb netns ${NS_C}`,
        sh`ip -n ${NS_S} addr add 10.77.0.1/24 dev p4wl-cra`,
        sh`ip -n ${NS_C} addr add 10.77.0.2/24 dev p4wl-crb`,
        sh`ip -n ${NS_S} link set p4wl-cra up`,
        sh`ip -n ${NS_C} link set p4wl-crb up`,
        sh`ip -n ${NS_S} link set lo up`,
        sh`ip -n ${NS_C} link set lo up`,
      ].join(' && '),
    );
  });
  afterAll(async () => {
    await local.exec(sh`podman rm -f ${C}`, { allowFail: true, quiet: true });
    await local.exec(sh`podman rmi -f ${IMAGE}`, { allowFail: true, quiet: true });
    await local.exec(sh`ip netns del ${NS_S}; ip netns del ${NS_C}`, { allowFail: true, quiet: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('checkpoint/restore with established connections: nothing lost, no burst', async () => {
    const fps = 30,
      conns = 2,
      durationS = 10;
    await x(
      inS(
        sh`podman run -d --pull=never --name ${C} --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 ${IMAGE} --port 8080 --metrics-port 8081 --fps ${fps}`,
      ),
    );
    await waitFor(
      'server /health',
      async () =>
        (
          await local.exec(sh`ip netns exec ${NS_C} curl -sf --max-time 1 http://10.77.0.1:8080/health`, {
            allowFail: true,
            quiet: true,
          })
        ).code === 0,
      15_000,
      300,
    );
    const lg = local.exec(
      sh`ip netns exec ${NS_C} node ${join(dist, 'loadgen.mjs')} --url ws://10.77.0.1:8080/ --connections ${conns} --metrics-port 0 --duration ${durationS}s`,
      { quiet: true, timeoutMs: 40_000 },
    );
    await new Promise((r) => setTimeout(r, 2500));
    const scrapeMetrics = async () => {
      const r = await local.exec(
        sh`ip netns exec ${NS_C} curl -s --max-time 2 -w ${'\n%{http_code}'} http://10.77.0.1:8081/metrics`,
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
