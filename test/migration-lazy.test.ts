// The lazy engine's last stretch with scripted hosts (the commands are the real ones; only what the
// hosts answer is made up): after the switch it waits for the lazy-pages daemon and the page server,
// records when the last page arrived, and when pages stop arriving it stops the target's container,
// writes a diagnosis, ends its helpers by PID and reports what is left, without a rollback.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../lib/config/keys.ts';
import { defaultConfig } from '../lib/config/load.ts';
import type { ExecResult, Host } from '../lib/hosts/types.ts';
import { LazyPagesFailure } from '../lib/migration/errors.ts';
import { lazyEngine } from '../lib/migration/lazy.ts';
import { resumedAt, track } from '../lib/migration/lazy-procs.ts';
import { recover } from '../lib/migration/recovery.ts';
import type { MigrationRun } from '../lib/migration/steps.ts';
import { serverNode } from '../lib/server/net.ts';

type Answer = (cmd: string, n: number) => Partial<ExecResult> | undefined;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(answers: Record<string, Answer>, over: Partial<Config> = {}) {
  const c = { ...defaultConfig(['--set', 'MIGRATION_ENGINE=lazy', '--set', 'LAZY_PAGES_TIMEOUT=60s']), ...over } as Config;
  const sent: { host: string; cmd: string }[] = [];
  const counts = new Map<string, number>();
  const host = (name: string): Host => ({
    name,
    async exec(cmd) {
      sent.push({ host: name, cmd });
      const n = (counts.get(name) ?? 0) + 1;
      counts.set(name, n);
      const a = answers[name]?.(cmd, n) ?? {};
      return { stdout: a.stdout ?? '', stderr: a.stderr ?? '', code: a.code ?? 0 };
    },
    upload: async () => {},
    download: async () => {},
    close: async () => {},
    background: async () => {
      throw new Error('no background here');
    },
    forward: async () => {
      throw new Error('no forward here');
    },
  });
  const hosts = new Map<string, Host>();
  const get = (n: string) => {
    if (!hosts.has(n)) hosts.set(n, host(n));
    return hosts.get(n)!;
  };
  const state = new Map<string, unknown>([['serverHost', 'loveland']]);
  const logs: string[] = [];
  const cleanups: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'p4cf-lazy-'));
  dirs.push(dir);
  const r = {
    ctx: {
      config: c,
      dir,
      dryRun: false,
      log: {
        info: (m: string) => logs.push(m),
        warn: (m: string) => logs.push(`WARN ${m}`),
        error: (m: string) => logs.push(`ERROR ${m}`),
        step: () => {},
      },
      cleanup: {
        add: (label: string) => {
          cleanups.push(label);
          return () => cleanups.splice(cleanups.indexOf(label), 1);
        },
      },
      state: { get: (k: string) => state.get(k), set: (k: string, v: unknown) => state.set(k, v) },
      host: get,
    },
    c,
    index: 3,
    tag: 'migration 3',
    source: 'lakewood',
    target: 'loveland',
    src: get('lakewood'),
    dst: get('loveland'),
    srcNode: serverNode(c, 'lakewood'),
    dstNode: serverNode(c, 'loveland'),
    srcDir: '/ck/lakewood',
    dstDir: '/ck/loveland',
    srcTar: '/ck/lakewood/checkpoint.tar',
    dstTar: '/ck/loveland/checkpoint.tar',
    method: 'socat',
    port: 19500,
    m: { start: 1_000_000_000n, restoreDone: 1_300_000_000n, switchDone: 1_310_000_000n },
    legEndNs: 0n,
    v: { size: 100, pid: 5151, id: 'b'.repeat(64), switchMs: 1, extra: {} },
    done: new Set([
      'quiesce',
      'drain',
      'checkpoint',
      'transfer',
      'removeSource',
      'restore',
      'networkFixup',
      'resume',
      'switchUpdate',
    ]),
    step: 'postSwitch',
    say: (m: string) => logs.push(m),
  } as unknown as MigrationRun;
  // as the offer and the restore would have: both helpers recorded and registered
  track(r, r.src, 4001, 'lazy page server');
  track(r, r.dst, 4002, 'lazy-pages daemon');
  resumedAt.set(r.v, 50_000_000_000n);
  return { r, sent, state, logs, cleanups, dir };
}

const ends = (sent: { host: string; cmd: string }[]) =>
  sent.filter((s) => /kill -TERM -400[12]/.test(s.cmd)).map((s) => `${s.host} ${s.cmd.match(/-400[12]/)![0]}`);

describe('lazy engine after the switch', () => {
  it('raises fs.pipe-max-size where it is too small for the page server, and registers setting it back', async () => {
    const t = setup({
      lakewood: (cmd) => (cmd.includes('pipe-max-size') ? { stdout: 'pipe-max-size raised from 1048576' } : undefined),
      loveland: () => undefined,
    });
    const before = t.cleanups.length;
    await lazyEngine.prepareTarget.run(t.r).catch(() => {
      /* the rest of the target's preparation is not scripted here */
    });
    expect(
      t.sent
        .filter((s) => s.cmd.includes('pipe-max-size'))
        .map((s) => s.host)
        .sort(),
    ).toEqual(['lakewood', 'loveland']);
    expect(t.cleanups.slice(before)).toContain('set fs.pipe-max-size on lakewood back to 1048576');
    expect(t.cleanups.some((l) => l.includes('pipe-max-size on loveland'))).toBe(false);
  });

  it('waits for the last page, reports when it arrived, then drops its helpers from the cleanup', async () => {
    const t = setup({
      // first look: still fetching; second: the daemon ended 420 ms after the resume, every page there
      loveland: (cmd, n) =>
        cmd.includes('lazy-pages.done')
          ? n === 1
            ? { stdout: 'rss 20480' }
            : { stdout: 'done 0 50420000000\npages 3202/3202' }
          : undefined,
      lakewood: (cmd) => (cmd.includes('page-server.done') ? { stdout: 'served 0' } : undefined),
    });
    await lazyEngine.postSwitch.run(t.r);
    expect(t.r.v.extra).toMatchObject({
      lazy_pages_after_resume_ms: 420,
      lazy_pages_done_ms: 720, // the restore leg ended 300 ms after the start, the last page 420 ms after the resume
      lazy_pages_transferred: '3202/3202',
    });
    expect(t.cleanups).toEqual([]);
    // the folder the daemon read its images from is emptied only after it ended
    const order = t.sent.filter((s) => s.host === 'loveland').map((s) => s.cmd);
    const lastProbe = order.map((c) => c.includes('lazy-pages.done')).lastIndexOf(true);
    const drop = order.findIndex((c) =>
      c.includes(`rm -rf /var/lib/containers/storage/overlay-containers/${'b'.repeat(64)}/userdata/checkpoint`),
    );
    expect(lastProbe).toBeGreaterThanOrEqual(0);
    expect(drop).toBeGreaterThan(lastProbe);
  });

  it('pages lost in flight: the target is stopped, the failure diagnosed, helpers ended by PID, no rollback', async () => {
    const t = setup({
      loveland: (cmd) => {
        if (cmd.includes('lazy-pages.done')) return { stdout: 'done 1 50420000000\npages 100/3202' };
        if (cmd.includes('kill -0 5151'))
          return {
            stdout:
              'alive yes\n(00.360143) Error (criu/page-xfer.c:1660): page-xfer: Remote side closed connection\npages 100/3202',
          };
        return undefined;
      },
      lakewood: (cmd) => (cmd.includes('pages-*.img') ? { stdout: 'images yes' } : undefined),
    });
    const e = await lazyEngine.postSwitch.run(t.r).catch((x) => x);
    expect(e).toBeInstanceOf(LazyPagesFailure);
    expect(e.step).toBe('postSwitch');
    expect(e.state).toMatchObject({ targetAlive: true, sourceImages: true });
    expect(e.message).toMatch(
      /criu lazy-pages on loveland exited with 1 after 100\/3202 pages: memory pages were still in flight/,
    );
    const text = readFileSync(e.file, 'utf8');
    expect(e.file).toBe(join(t.dir, 'migration_3_lazy_diagnosis.txt'));
    expect(text).toMatch(/cause: lazy-pages-lost/);
    expect(text).toMatch(/Remote side closed connection/);
    // its missing pages would read as zeros: the restored container must not serve on
    expect(t.sent.some((s) => s.host === 'loveland' && s.cmd.includes('podman kill p4cf-server'))).toBe(true);
    expect(ends(t.sent).sort()).toEqual(['lakewood -4001', 'loveland -4002']);
    expect(t.cleanups).toEqual([]);
    expect(t.state.get('serverHost')).toBe('none');
    const rec = await recover(lazyEngine, t.r, e, e.message);
    expect(rec.recovered).toBe(false);
    expect(rec.recovery).toMatch(/The server on loveland was stopped: its memory is incomplete \(100\/3202 pages arrived\)/);
    expect(rec.recovery).toMatch(/full dump is still on lakewood:\/ck\/lakewood\/images .* not done automatically/);
    expect(t.sent.some((s) => s.cmd.includes('podman container restore'))).toBe(false);
  });

  it('a daemon that failed before it counted anything (0/0 in its log) is a failure, not "every page arrived"', async () => {
    // seen on the testbed with the page server ended after the switch: the daemon exits 1 without its summary line
    const t = setup({
      loveland: (cmd) => {
        if (cmd.includes('lazy-pages.done')) return { stdout: 'done 1 50420000000\npages 0/0' };
        if (cmd.includes('kill -0 5151')) return { stdout: 'alive no\npages 0/0' };
        return undefined;
      },
      lakewood: (cmd) => (cmd.includes('pages-*.img') ? { stdout: 'images yes' } : undefined),
    });
    t.r.v.extra.lazy_pages_deferred = 68518;
    const e = await lazyEngine.postSwitch.run(t.r).catch((x) => x);
    expect(e).toBeInstanceOf(LazyPagesFailure);
    expect(e.state.recovery).toMatch(/The server on loveland is dead/);
  });

  it('a daemon still fetching at LAZY_PAGES_TIMEOUT is ended; a dead target and a source without pages are said plainly', async () => {
    const t = setup(
      {
        loveland: (cmd) => {
          if (cmd.includes('lazy-pages.done')) return { stdout: 'rss gone' };
          if (cmd.includes('kill -0 5151')) return { stdout: 'alive no\npages 0/3202' };
          return undefined;
        },
        lakewood: (cmd) => (cmd.includes('pages-*.img') ? { stdout: 'images no' } : undefined),
      },
      { LAZY_PAGES_TIMEOUT: 1 },
    );
    const e = await lazyEngine.postSwitch.run(t.r).catch((x) => x);
    expect(e).toBeInstanceOf(LazyPagesFailure);
    expect(e.message).toMatch(/did not arrive within LAZY_PAGES_TIMEOUT 1 ms/);
    expect(readFileSync(e.file, 'utf8')).toMatch(/cause: lazy-pages-lost/);
    expect(t.sent.some((s) => s.cmd.includes('podman kill'))).toBe(false);
    expect(ends(t.sent).sort()).toEqual(['lakewood -4001', 'loveland -4002']);
    expect(e.state.recovery).toMatch(
      /The server on loveland is dead \(0\/3202 pages arrived\)\. The source's pages are gone too/,
    );
  });

  it('a lazy migration that failed before the switch: helpers ended, the shared record stopped (not removed) and restored on the source from its full dump', async () => {
    const t = setup({
      lakewood: (cmd) =>
        cmd.includes('podman container restore')
          ? { stdout: `mark restore_start 1\nmark restored 2\nmark network 3\nmark resumed 4\nid ${'b'.repeat(64)}\npid 6161` }
          : cmd.includes('http-probe')
            ? { stdout: 'HTTP 200' }
            : undefined,
    });
    t.r.done = new Set(['quiesce', 'drain', 'checkpoint']);
    t.r.step = 'restore';
    const rec = await recover(lazyEngine, t.r, new Error('restore failed'), 'restore failed');
    expect(rec.recovered, rec.recovery).toBe(true);
    expect(ends(t.sent).sort()).toEqual(['lakewood -4001', 'loveland -4002']);
    expect(t.sent.some((s) => s.cmd.includes('podman rm'))).toBe(false);
    expect(t.sent.some((s) => s.host === 'loveland' && s.cmd.includes('podman stop --ignore -t 0 p4cf-server'))).toBe(true);
    const restore = t.sent.find((s) => s.cmd.includes('podman container restore'))!;
    expect(restore.host).toBe('lakewood');
    expect(restore.cmd).toContain('mv /ck/lakewood/images "$ck"');
    expect(restore.cmd).not.toMatch(/lazy-pages/);
    expect(t.state.get('serverHost')).toBe('lakewood');
  });
});
