// Issue 12, item 6: downtime grew over long runs with many connections because each checkpoint
// exported the images of every earlier one. Repeated migrations of the stream server container
// with live connections, using the migration's own podman commands (checkpointExportCmd,
// restoreImportCmd): every exported checkpoint holds one tcp-stream image per connection —
// not one per connection per migration — and the connections survive every cycle.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quote, sh } from '../lib/hosts/quote.ts';
import { checkpointExportCmd, dropRestoredImagesCmd, restoreImportCmd } from '../lib/migration/podman.ts';
import { waitFor } from '../lib/run/poll.ts';
import { isRoot } from './helpers/env.ts';
import { streamPair } from './helpers/stream-pair.ts';

if (!isRoot) console.warn('checkpoint-carryover.test: skipping: needs root (namespaces, podman, CRIU)');

const pair = streamPair({ tag: 'co', subnet: '10.77.1' });
const { x, inServerNs: inS, container: C, nsClient: NS_C, tmp } = pair;
const CONNS = 8;
const CYCLES = 4;
// upper bound of the load generator's life; the test stops it after the cycles
const LOAD_S = 300;
const tcpImages = (list: string) =>
  list.split('\n').filter((l) => /^checkpoint\/tcp-stream-[0-9a-f]+\.img$/.test(l.trim())).length;

describe.skipIf(!isRoot)('repeated checkpoint export / import of the server container (root)', () => {
  beforeAll(() => pair.setUp());
  afterAll(() => pair.tearDown());

  it(`${CYCLES} migrations with ${CONNS} connections: each checkpoint holds ${CONNS} tcp-stream images, nothing dropped`, async () => {
    await pair.startServer();
    // ip netns exec execs node: the child's PID is the load generator's, SIGTERM prints its summary
    const lg = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS_C,
        process.execPath,
        join(pair.dist(), 'loadgen.mjs'),
        '--url',
        `ws://${pair.serverIp}:8080/`,
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
      await waitFor(`${CONNS} connections`, async () => (await pair.clients()) === CONNS, 20_000, 300);
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
      expect(await pair.clients()).toBe(CONNS);
    } finally {
      lg.kill('SIGTERM');
      await lgExit;
    }
    const summary = JSON.parse(/summary (\{.*\})/.exec(out)?.[1] ?? 'null') as Record<string, number>;
    expect(summary).toMatchObject({ framesLost: 0, drops: 0 });
  }, 120_000);
});
