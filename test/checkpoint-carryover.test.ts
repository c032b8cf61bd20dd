// Issue 12, item 6: downtime grew over long runs with many connections because each checkpoint
// exported the images of every earlier one. Repeated migrations of the stream server container
// with live connections, using the migration's own podman commands (checkpointExportCmd,
// restoreImportCmd): every exported checkpoint holds one tcp-stream image per connection —
// not one per connection per migration — and the connections survive every cycle.
import { spawn } from 'node:child_process';
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
import { checkpointExportCmd, dropRestoredImagesCmd, restoreImportCmd } from '../lib/migration/podman.ts';
import { quote } from '../lib/hosts/quote.ts';

if (!isRoot) console.warn('checkpoint-carryover.test: skipping: needs root (namespaces, podman, CRIU)');

const projectDir = resolve(import.meta.dirname, '..');
const IMAGE = 'localhost/p4wl-stream-server:carryover';
const C = 'p4wl-cosrv';
const NS_S = 'p4wl-cos',
  NS_C = 'p4wl-coc';
const CONNS = 8;
const CYCLES = 4;
// upper bound of the load generator's life; the test stops it after the cycles
const LOAD_S = 300;
const tmp = mkdtempSync(join(tmpdir(), 'p4wl-carryover-'));
const local = createLocalHost();
const x = (cmd: string, timeoutMs = 60_000) => local.exec(cmd, { quiet: true, timeoutMs });
const inS = (cmd: string) => `nsenter --net=/run/netns/${NS_S} ${cmd}`;
const tcpImages = (list: string) =>
  list.split('\n').filter((l) => /^checkpoint\/tcp-stream-[0-9a-f]+\.img$/.test(l.trim())).length;

describe.skipIf(!isRoot)('repeated checkpoint export / import of the server container (root)', () => {
  let dist: string;
  beforeAll(async () => {
    dist = await bundleRemote(projectDir, { require: ['stream-server.mjs', 'loadgen.mjs'] });
    await ensureServerImage(local, { image: IMAGE, bundleFile: join(dist, 'stream-server.mjs'), workDir: join(tmp, 'build') });
    await x(
      [
        sh`ip netns add ${NS_S}`,
        sh`ip netns add ${NS_C}`,
        sh`ip link add p4wl-coa netns ${NS_S} type veth peer name p4wl-cob netns ${NS_C}`,
        sh`ip -n ${NS_S} addr add 10.77.1.1/24 dev p4wl-coa`,
        sh`ip -n ${NS_C} addr add 10.77.1.2/24 dev p4wl-cob`,
        sh`ip -n ${NS_S} link set p4wl-coa up`,
        sh`ip -n ${NS_C} link set p4wl-cob up`,
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

  it(`${CYCLES} migrations with ${CONNS} connections: each checkpoint holds ${CONNS} tcp-stream images, nothing dropped`, async () => {
    await x(
      inS(
        sh`podman run -d --pull=never --name ${C} --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 ${IMAGE} --port 8080 --metrics-port 8081`,
      ),
    );
    await waitFor(
      'server /health',
      async () =>
        (
          await local.exec(sh`ip netns exec ${NS_C} curl -sf --max-time 1 http://10.77.1.1:8080/health`, {
            allowFail: true,
            quiet: true,
          })
        ).code === 0,
      15_000,
      300,
    );
    // ip netns exec execs node: the child's PID is the load generator's, SIGTERM prints its summary
    const lg = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS_C,
        process.execPath,
        join(dist, 'loadgen.mjs'),
        '--url',
        'ws://10.77.1.1:8080/',
        '--connections',
        String(CONNS),
        '--ramp',
        '20ms',
        '--metrics-port',
        '0',
        '--duration',
        `${LOAD_S}s`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    lg.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const lgExit = new Promise((r) => lg.once('exit', r));
    try {
      await waitFor(
        `${CONNS} connections`,
        async () => {
          const h = await local.exec(sh`ip netns exec ${NS_C} curl -sf --max-time 1 http://10.77.1.1:8080/health`, {
            allowFail: true,
            quiet: true,
          });
          return h.code === 0 && (JSON.parse(h.stdout) as { clients: number }).clients === CONNS;
        },
        20_000,
        300,
      );
      const counts: Array<{ files: number; tcp: number }> = [];
      for (let i = 1; i <= CYCLES; i++) {
        const tar = join(tmp, `checkpoint-${i}.tar`);
        // as the migration does: quiesce, let the send queues drain, dump, remove, restore, resume
        await x(sh`podman kill --signal USR2 ${C}`);
        await new Promise((r) => setTimeout(r, 300));
        await x(inS(checkpointExportCmd(tar, C)));
        await x(sh`podman rm -f ${C}`);
        await x(inS(restoreImportCmd(tar)));
        // as the migration's post-switch step does once CRIU's restore log is read
        await x(dropRestoredImagesCmd(quote((await x(sh`podman inspect --format ${'{{.Id}}'} ${C}`)).stdout.trim())));
        await x(sh`podman kill --signal USR2 ${C}`);
        const list = (await x(sh`tar -tf ${tar}`)).stdout;
        counts.push({ files: list.split('\n').filter(Boolean).length, tcp: tcpImages(list) });
        rmSync(tar, { force: true });
        await new Promise((r) => setTimeout(r, 500));
      }
      // before the fix: 8, 16, 24, 32 tcp-stream images (and the file count growing with them)
      expect(counts.map((c) => c.tcp)).toEqual(Array(CYCLES).fill(CONNS));
      expect(
        counts[CYCLES - 1].files - counts[0].files,
        `files per checkpoint: ${counts.map((c) => c.files).join(', ')}`,
      ).toBeLessThanOrEqual(2);
      const h = await x(sh`ip netns exec ${NS_C} curl -sf --max-time 2 http://10.77.1.1:8080/health`);
      expect((JSON.parse(h.stdout) as { clients: number }).clients).toBe(CONNS);
    } finally {
      lg.kill('SIGTERM');
      await lgExit;
    }
    const summary = JSON.parse(/summary (\{.*\})/.exec(out)?.[1] ?? 'null') as Record<string, number>;
    expect(summary).toMatchObject({ framesLost: 0, drops: 0 });
  }, 120_000);
});
