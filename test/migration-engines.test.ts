// The engines' host scripts (issue 13), without a testbed: MIGRATION_ENGINE picks the step record;
// runc never goes through podman's export/import; lazy adds the page server and the lazy restore; both freeze the cgroup before the dump and thaw
// it when the dump fails. The freezer script itself runs here against a fake cgroup tree.
import { defaultConfig } from '../lib/config/load.ts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYS, type Config } from '../lib/config/keys.ts';
import { parseByType } from '../lib/config/values.ts';
import { engineFor } from '../lib/migration/engines.ts';
import { freezeScript, THAW } from '../lib/migration/freezer.ts';
import type { MigrationRun } from '../lib/migration/steps.ts';
import { serverNode } from '../lib/server/net.ts';

const config = defaultConfig();
const run = (c: Config) =>
  ({
    c,
    srcDir: '/ck/src',
    dstDir: '/ck/dst',
    srcTar: '/ck/src/checkpoint.tar',
    dstTar: '/ck/dst/checkpoint.tar',
    method: 'socat',
    port: c.TRANSFER_PORT,
    known: { pid: 4711, id: 'a'.repeat(64) },
    source: 'lakewood',
    target: 'loveland',
    srcNode: { ...serverNode(c, 'lakewood'), directIp: '192.168.10.2' },
    dstNode: serverNode(c, 'loveland'),
  }) as unknown as MigrationRun;
const sourceScript = (r: MigrationRun, c: Config) => {
  const e = engineFor(c);
  return [e.quiesce, e.drain, e.checkpoint, e.transfer.offer].map((x) => x.script(r)).join('\n');
};

describe('MIGRATION_ENGINE', () => {
  it('defaults to podman: the published export/import, now after freezing the cgroup', () => {
    expect(engineFor(config).name).toBe('podman');
    const s = sourceScript(run(config), config);
    expect(s.indexOf('echo FROZEN')).toBeGreaterThan(s.indexOf('drained'));
    expect(s.indexOf('echo FROZEN')).toBeLessThan(s.indexOf('podman container checkpoint --export'));
    expect(s).toContain(`then ${THAW}; exit 1; fi`);
  });

  it('runc: runc checkpoint to a folder, streamed with tar | socat, restored by podman from the same record without --import', () => {
    const c = { ...config, MIGRATION_ENGINE: 'runc' } as Config;
    const e = engineFor(c);
    expect(e.name).toBe('runc');
    const r = run(c);
    const s = sourceScript(r, c);
    expect(s).toMatch(
      /runc --root \/run\/runc checkpoint --image-path '?\/ck\/src\/images'? --work-path '?\/ck\/src\/work'? --tcp-established "\$cid"/,
    );
    expect(s).not.toMatch(/podman container checkpoint|--export/);
    expect(s).toMatch(/tar -C \/ck\/src\/images -cf - \. \| socat -u STDIN TCP-LISTEN:19500,bind=192.168.10.2/);
    const restore = e.restore.script(r);
    expect(restore).toContain(`cid=${'a'.repeat(64)}`);
    expect(restore).toMatch(/mv \/ck\/dst\/images "\$ck"/);
    expect(restore).toMatch(/podman container restore --keep --tcp-established --ignore-static-mac p4cf-server/);
    expect(restore).not.toMatch(/--import/);
    // the same network fix-up and resume as podman
    expect(e.networkFixup).toBe(engineFor(config).networkFixup);
    expect(e.resume).toBe(engineFor(config).resume);
  });

  it('lazy: the runc dump, a stripped copy streamed, a page server for the rest; the target restores with lazy pages', () => {
    const c = { ...config, MIGRATION_ENGINE: 'lazy' } as Config;
    const e = engineFor(c);
    expect(e.name).toBe('lazy');
    const r = run(c);
    const s = sourceScript(r, c);
    // a full dump (the source process ends with it, podman's record is free for the restore)
    expect(s).toMatch(/runc --root \/run\/runc checkpoint --image-path '?\/ck\/src\/images'? .*--tcp-established "\$cid"/);
    expect(s).not.toMatch(/checkpoint[^\n]*--lazy-pages/);
    const order = [
      // the copy's node starts before the dump and waits for `go` on a fifo (a failed dump closes it)
      'mkfifo /ck/src/lazy-strip.go',
      'lazy-strip-after /ck/src/images /ck/src/lazy </ck/src/lazy-strip.go',
      'exec 8>/ck/src/lazy-strip.go',
      'runc --root',
      'mark checkpointed',
      'criu page-server --lazy-pages -D /ck/src/images --address 192.168.10.2 --port 19501',
      'echo "pageserver $pageserver_pid"',
      'echo go >&8; exec 8>&-',
      'wait "$strip_pid"',
      'kill -TERM -"$pageserver_pid"', // a failed copy ends the page server it started
      'mark stripped',
      'tar -C /ck/src/lazy -S -cf - . | socat -u STDIN TCP-LISTEN:19500,bind=192.168.10.2',
    ];
    const withMarks = [e.quiesce, e.drain, e.checkpoint, e.transfer.offer]
      .map((x) => `${x.script(r)}\nmark ${x.mark}`)
      .join('\n');
    const at = order.map((t) => withMarks.replace(/'/g, '').indexOf(t));
    expect(
      at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1])),
      `order in:\n${withMarks}`,
    ).toBe(true);
    // the page server: detached, bounded, its own process group, readiness and exit recorded
    expect(s).toMatch(
      /setsid timeout 180 sh -c .*--status-fd 3 3>\/ck\/src\/page-server\.ready; echo "\$\? \$\(date \+%s%N\)" > \/ck\/src\/page-server\.done/,
    );
    const restore = e.restore.script(r).replace(/'/g, '');
    const steps = [
      `cid=${'a'.repeat(64)}`,
      'mv /ck/dst/images "$ck"',
      'criu lazy-pages --page-server --address 192.168.10.2 --port 19501 -D "$CK" -W "$UD"',
      'echo "lazydaemon $lazydaemon_pid"',
      '-S "$ud/lazy-pages.socket"',
      'lazy-pages > /etc/criu/p4cf-migration.conf',
      'podman container restore --keep --tcp-established --ignore-static-mac p4cf-server',
      'network-lock nftables > /etc/criu/p4cf-migration.conf',
      'echo "id $id"',
    ];
    const pos = steps.map((t) => restore.indexOf(t));
    expect(
      pos.every((x, i) => x >= 0 && (i === 0 || x > pos[i - 1])),
      `order in:\n${restore}`,
    ).toBe(true);
    expect(restore).not.toMatch(/--import/);
    // recovery restores on the source from its full dump: a plain runc restore, no lazy pages
    const onSource = { ...r, target: 'lakewood', source: 'lakewood', dstDir: '/ck/src' } as MigrationRun;
    expect(e.restore.script(onSource)).toBe(
      engineFor({ ...config, MIGRATION_ENGINE: 'runc' } as Config).restore.script(onSource),
    );
    expect(e.restore.script(onSource)).not.toMatch(/lazy-pages/);
    // the same network fix-up, resume and switch update as the others
    expect(e.networkFixup).toBe(engineFor(config).networkFixup);
    expect(e.resume).toBe(engineFor(config).resume);
    expect(e.switchUpdate).toBe(engineFor(config).switchUpdate);
  });

  it('MIGRATION_ENGINE accepts podman, runc and lazy only', () => {
    expect(parseByType(KEYS.MIGRATION_ENGINE.type, 'runc')).toBe('runc');
    expect(parseByType(KEYS.MIGRATION_ENGINE.type, 'lazy')).toBe('lazy');
    expect(() => parseByType(KEYS.MIGRATION_ENGINE.type, 'criu')).toThrow();
  });
});

describe('freezer script against a fake cgroup v1 tree', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'p4cf-frz-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  it('freezes the cgroup PID is in, reports it, and THAW puts it back', () => {
    // the script reads /proc/PID/cgroup and /sys/fs/cgroup: point both at the fake tree
    const proc = join(tmp, 'proc/42');
    mkdirSync(proc, { recursive: true });
    writeFileSync(join(proc, 'cgroup'), '6:freezer:/libpod_parent/libpod-x\n1:cpu:/\n');
    const cg = join(tmp, 'sys/fs/cgroup/freezer/libpod_parent/libpod-x');
    mkdirSync(cg, { recursive: true });
    writeFileSync(join(cg, 'freezer.state'), 'THAWED\n');
    const script = `${freezeScript(42)}\n${THAW}`
      .replaceAll('/proc/', `${tmp}/proc/`)
      .replaceAll('/sys/fs/cgroup', `${tmp}/sys/fs/cgroup`)
      .replace('echo THAWED > "$frz"', 'cat "$frz" > "$frz.seen"; echo THAWED > "$frz"');
    const out = execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('freeze frozen');
    expect(readFileSync(join(cg, 'freezer.state.seen'), 'utf8').trim()).toBe('FROZEN');
    expect(readFileSync(join(cg, 'freezer.state'), 'utf8').trim()).toBe('THAWED');
  });
  it('a process without a freezer cgroup: n/a, and nothing is written', () => {
    const proc = join(tmp, 'proc/43');
    mkdirSync(proc, { recursive: true });
    writeFileSync(join(proc, 'cgroup'), '1:cpu:/\n');
    const out = execFileSync(
      'sh',
      ['-c', freezeScript(43).replaceAll('/proc/', `${tmp}/proc/`).replaceAll('/sys/fs/cgroup', `${tmp}/sys/fs/cgroup`)],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('freeze n/a');
  });
});

describe('CRIU freezer wait from a dump log', () => {
  it('measures from "freezing cgroup" to the first FROZEN read', async () => {
    const { criuFreezerWaitCmd, parseFreezerWait } = await import('../lib/migration/freezer.ts');
    const dir = mkdtempSync(join(tmpdir(), 'p4cf-frzlog-'));
    try {
      const slept = join(dir, 'slept.log');
      writeFileSync(
        slept,
        '(00.105064) freezing cgroup /sys/x: 100 x 100ms attempts\n(00.105078) freezer.state=FREEZING\n(00.205188) freezer.state=FROZEN\n',
      );
      const frozen = join(dir, 'frozen.log');
      writeFileSync(frozen, '(00.041533) freezing cgroup /sys/x: 100 x 100ms attempts\n(00.041546) freezer.state=FROZEN\n');
      const run = (f: string) => parseFreezerWait(execFileSync('sh', ['-c', criuFreezerWaitCmd(f)], { encoding: 'utf8' }));
      expect(run(slept)).toBe(100.1);
      expect(run(frozen)).toBe(0);
      expect(run(join(dir, 'absent.log'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
