// The bundles run with plain `node` outside the repository (as on a remote host).
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleRemoteDetailed, REMOTE_ENTRIES } from '../lib/hosts/bundle.ts';
import { freePort } from '../experiments/workload/procs.ts';
import { waitFor } from '../lib/run/poll.ts';

const projectDir = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'p4wl-bundle-'));
const pids: number[] = [];
afterAll(() => {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe('bundleRemote', () => {
  it('builds the stream server and load generator, then serves them from the cache', async () => {
    const first = await bundleRemoteDetailed(projectDir, { require: ['stream-server.mjs', 'loadgen.mjs'] });
    expect([...first.built, ...first.cached]).toEqual(expect.arrayContaining(['stream-server.mjs', 'loadgen.mjs']));
    const second = await bundleRemoteDetailed(projectDir);
    expect(second.built).toEqual([]);
    expect(second.cached).toEqual(expect.arrayContaining(['stream-server.mjs', 'loadgen.mjs']));
    expect(readFileSync(join(second.dir, 'bfruntime.proto'), 'utf8')).toMatch(/package bfrt_proto/);
  });

  it('names a required entry whose source is missing, and an unknown entry', async () => {
    const empty = join(tmp, 'empty-project');
    mkdirSync(empty);
    await expect(bundleRemoteDetailed(empty, { require: ['loadgen.mjs'] })).rejects.toThrow(
      /loadgen\.mjs.*experiments\/workload\/loadgen\.ts/,
    );
    await expect(bundleRemoteDetailed(empty, { require: ['nope.mjs'] })).rejects.toThrow(/unknown entry "nope.mjs"/);
    expect((await bundleRemoteDetailed(empty)).missing).toHaveLength(REMOTE_ENTRIES.length);
  });

  it('rebuilds when a source changes', async () => {
    // A scratch project with its own entry source, so the shared dist/ is untouched.
    const proj = join(tmp, 'proj');
    mkdirSync(join(proj, 'experiments/workload'), { recursive: true });
    const src = join(proj, 'experiments/workload/server.ts');
    writeFileSync(src, 'console.log("v1");\n');
    expect((await bundleRemoteDetailed(proj)).built).toEqual(['stream-server.mjs']);
    expect((await bundleRemoteDetailed(proj)).built).toEqual([]);
    writeFileSync(src, 'console.log("v2");\n');
    expect((await bundleRemoteDetailed(proj)).built).toEqual(['stream-server.mjs']);
    expect(readFileSync(join(proj, 'dist/remote/stream-server.mjs'), 'utf8')).toMatch(/v2/);
  });

  it('the bundles run with plain node from a folder without node_modules', async () => {
    const dist = join(projectDir, 'dist/remote');
    const run = join(tmp, 'run');
    mkdirSync(run);
    for (const f of ['stream-server.mjs', 'loadgen.mjs']) copyFileSync(join(dist, f), join(run, f));
    const [port, mport, lport] = [await freePort(), await freePort(), await freePort()];
    const srv = spawn(
      'node',
      [join(run, 'stream-server.mjs'), '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(mport)],
      { cwd: run, stdio: 'ignore' },
    );
    pids.push(srv.pid!);
    await waitFor('bundled server /health', async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 10_000, 200);
    let out = '';
    const lg = spawn(
      'node',
      [
        join(run, 'loadgen.mjs'),
        '--url',
        `ws://127.0.0.1:${port}/`,
        '--connections',
        '2',
        '--metrics-port',
        String(lport),
        '--duration',
        '2s',
      ],
      { cwd: run },
    );
    pids.push(lg.pid!);
    lg.stdout.on('data', (b) => {
      out += b;
    });
    const code = await new Promise((r) => lg.once('exit', r));
    srv.kill('SIGTERM');
    expect(code).toBe(0);
    const summary = JSON.parse(/summary (\{.*\})/.exec(out)![1]) as Record<string, number>;
    expect(summary.framesReceived).toBeGreaterThan(40); // 2 conns x 30 fps x ~1.8 s
    expect(summary.framesLost).toBe(0);
    expect(summary.pingsSent).toBeGreaterThan(10);
  });
});
