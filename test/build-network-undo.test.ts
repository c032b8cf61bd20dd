// The build's network undo after a Ctrl-C that cut `podman network create` off: the remote shell
// ended, podman under it may still be writing the network; the undo waits for exactly that process
// (its command line), then removes the network — and does not wait when nothing creates it.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { networkRemoveScript } from '../experiments/phases/build.ts';

const tmp = mkdtempSync(join(tmpdir(), 'p4cf-netundo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
// a podman stand-in: the network exists; `rm` is recorded with its time
writeFileSync(
  join(tmp, 'podman'),
  `#!/bin/sh\ncase "$2" in exists) exit 0;; rm) echo "rm $(date +%s%N)" >> ${tmp}/calls;; esac\n`,
);
chmodSync(join(tmp, 'podman'), 0o755);
const run = (script: string) =>
  execFileSync('sh', ['-c', script], { env: { ...process.env, PATH: `${tmp}:${process.env.PATH}` }, encoding: 'utf8' });

describe('network undo', () => {
  it('waits for a create of this network still running, then removes it', async () => {
    // a process whose command line ends as the create's does (sh's $0 and arguments)
    const create = spawn('sh', ['-c', 'sleep 1.2; true', 'podman', 'network', 'create', '-d', 'macvlan', 'p4t-net']);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = BigInt(Date.now()) * 1_000_000n; // the stand-in stamps with date +%s%N
    run(networkRemoveScript('p4t-net'));
    const rmAt = BigInt(readFileSync(join(tmp, 'calls'), 'utf8').trim().split(' ')[1]);
    // the create ends ~1 s after t0: removed after it, not at once and not after the 5 s bound
    const ms = Number(rmAt - t0) / 1e6;
    expect(ms).toBeGreaterThan(700);
    expect(ms).toBeLessThan(4500);
    create.kill();
  });

  it('removes at once when no create runs (another network being created does not count)', () => {
    rmSync(join(tmp, 'calls'), { force: true });
    const other = spawn('sh', ['-c', 'sleep 2; true', 'podman', 'network', 'create', 'other-net']);
    const t0 = Date.now();
    run(networkRemoveScript('p4t-net'));
    other.kill();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(readFileSync(join(tmp, 'calls'), 'utf8')).toMatch(/^rm \d+\n$/);
  });
});
