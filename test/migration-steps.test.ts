// The migration's failure paths with scripted hosts (the commands are the real ones; only what the
// hosts answer is made up): a failed step becomes a MigrationError with typed fields, recovery
// acts on the step that failed, and a failed restore is diagnosed once into the run folder.
import { defaultConfig } from '../lib/config/load.ts';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../lib/config/keys.ts';
import type { ExecResult, Host } from '../lib/hosts/types.ts';
import { migrate, MigrationError, type MigrationContext } from '../lib/migration/migrate.ts';
import { pidGuard, podmanEngine } from '../lib/migration/podman.ts';
import { LivePathError } from '../lib/migration/precheck.ts';
import { pullCommand } from '../lib/migration/transfer.ts';
import { serverRunCmd } from '../lib/server/infra.ts';
import { CRIU_CONFIG_PATH } from '../lib/migration/criu.ts';

type Answer = (cmd: string) => Partial<ExecResult> | undefined;

// A real HTTP controller stand-in (CONTROLLER_URL): /health as the controller answers it, and
// /updateForward answered by `ctl.update` (the migration's calls are recorded).
const ctl = {
  health: 200 as number,
  update: (_body: { sw_port: number }) => 200,
  calls: [] as { path: string; body: { sw_port: number } }[],
};
const server = createServer((req, res) => {
  let data = '';
  req.on('data', (b) => {
    data += b;
  });
  req.on('end', () => {
    const body = data ? JSON.parse(data) : undefined;
    ctl.calls.push({ path: req.url ?? '', body });
    const status = req.url === '/health' ? ctl.health : ctl.update(body);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        req.url === '/health'
          ? {
              status: status === 200 ? 'ok' : 'switch unreachable',
              connected: status === 200,
              bound: status === 200,
              programmed: true,
            }
          : status === 200
            ? {}
            : { error: 'switch write failed' },
      ),
    );
  });
});
let config: Config;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  config = {
    ...defaultConfig(),
    TRANSFER_METHOD: 'socat',
    CONTROLLER_URL: `http://127.0.0.1:${port}`,
  } as unknown as Config;
});
beforeEach(() => {
  ctl.health = 200;
  ctl.update = () => 200;
  ctl.calls = [];
});
const dirs: string[] = [];
afterAll(() => {
  server.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What healthy hosts answer to the checks before a migration (precheck.ts). */
const healthy: Answer = (cmd) => {
  if (cmd.includes('{{.State.Status}} {{.State.Pid}}')) return { stdout: 'state running 4242' };
  if (cmd.includes('ip -br link show dev')) return { stdout: cmd.includes('ping') ? 'link up\npeer ok' : 'link up' };
  if (cmd.includes('http-probe')) return { stdout: 'HTTP 200' };
  return undefined;
};

const marks = (...names: string[]) => names.map((n, i) => `mark ${n} ${1_000_000_000 + i * 1_000_000}`).join('\n');

function harness(scripted: Answer, opts: { signal?: AbortSignal } = {}) {
  const answer: Answer = (cmd) => scripted(cmd) ?? healthy(cmd);
  const sent: { host: string; cmd: string }[] = [];
  const host = (name: string): Host => ({
    name,
    async exec(cmd, o) {
      sent.push({ host: name, cmd });
      const a = answer(cmd) ?? {};
      const r = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', code: a.code ?? 0 };
      if (r.code !== 0 && !o?.allowFail) throw new Error(`[${name}] exit ${r.code}`);
      return r;
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
  const state = new Map<string, unknown>([
    ['serverHost', 'lakewood'],
    ['serverProc', { pid: 4242, id: 'a'.repeat(64) }],
  ]);
  const logs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'p4cf-migsteps-'));
  dirs.push(dir);
  const ctx: MigrationContext = {
    config,
    dir,
    dryRun: false,
    log: {
      info: (m) => logs.push(m),
      warn: (m) => logs.push(`WARN ${m}`),
      error: (m) => logs.push(`ERROR ${m}`),
      step: (_p, m) => logs.push(m),
    },
    cleanup: { add: () => () => {} },
    state: {
      get: (k) => state.get(k),
      set: (k, v) => {
        state.set(k, v);
      },
    },
    host: (n) => {
      let h = hosts.get(n);
      if (!h) {
        h = host(n);
        hosts.set(n, h);
      }
      return h;
    },
    signal: opts.signal,
  };
  return { ctx, sent, state, logs, dir };
}

describe('migration failures are typed and recovered from', () => {
  it('a failed checkpoint resumes the server on the source: step checkpoint, recovered', async () => {
    const h = harness((cmd) =>
      cmd.includes('podman container checkpoint')
        ? {
            code: 125,
            stdout: `${marks('start', 'quiesced', 'drained')}\npid 4242\nquiesced\ndrain drained polls=0`,
            stderr: 'Error: criu failed: type DUMP errno 0',
          }
        : undefined,
    );
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect({
      step: e.step,
      recovered: e.recovered,
      index: e.index,
      source: e.source,
      target: e.target,
      diagnosisFile: e.diagnosisFile,
    }).toEqual({
      step: 'checkpoint',
      recovered: true,
      index: 1,
      source: 'lakewood',
      target: 'loveland',
      diagnosisFile: undefined,
    });
    expect(e.cause.message).toMatch(/criu failed/);
    expect(h.sent.some((s) => s.host === 'lakewood' && s.cmd.includes('podman kill --signal USR2 p4cf-server'))).toBe(true);
    expect(h.sent.some((s) => s.cmd.includes('podman container restore'))).toBe(false);
    expect(h.state.get('serverHost')).toBe('lakewood');
  });

  it('a failed restore is diagnosed once into the run folder; a failed recovery says so', async () => {
    const h = harness((cmd) => {
      if (cmd.includes('podman container checkpoint')) {
        return {
          stdout: `${marks('start', 'quiesced', 'drained', 'checkpointed', 'serving')}\npid 4242\nquiesced\ndrain drained polls=0\ncheckpointed\nsize 100`,
        };
      }
      if (cmd.includes('socat -u -T 5 TCP:')) return { stdout: `${marks('pull_start', 'pulled')}\nsize 100` };
      if (cmd.includes('podman container restore')) {
        return { code: 3, stdout: `${marks('restore_start')}\nRESTORE-FAILED\nError: criu failed\nlog file: /u/restore.log` };
      }
      if (cmd === 'cat /u/restore.log')
        return { stdout: "(00.1)      1: Error (criu/files.c:1): Magic doesn't match for tcp-stream-1.img\n" };
      return undefined;
    });
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 2 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.step).toBe('restore');
    expect(e.recovered).toBe(false); // the source's restore (same fake answer) failed too
    expect(e.recovery).toMatch(/Restoring on lakewood ALSO failed/);
    expect(e.diagnosisFile).toBe(join(h.dir, 'migration_2_restore_diagnosis.txt'));
    expect(readFileSync(e.diagnosisFile, 'utf8')).toMatch(/cause: image-damaged/);
    expect(existsSync(join(h.dir, 'migration_2_restore.log'))).toBe(true);
    // the CRIU log was fetched once per failed restore (target, then the source's recovery attempt)
    expect(h.sent.filter((s) => s.cmd === 'cat /u/restore.log').map((s) => s.host)).toEqual(['loveland', 'lakewood']);
    expect(h.state.get('serverHost')).toBe('none');
  });
});

// A source leg that checkpointed fine, a pull that brought 100 bytes, a restore that worked.
// the listener starts in the same instant the checkpoint ends (timing.ts orders the marks)
const SOURCE_OK = {
  stdout: `${marks('start', 'quiesced', 'drained', 'checkpointed')}\nmark serving ${1_000_000_000 + 3_000_000}\npid 4242\nquiesced\ndrain drained polls=0\ncheckpointed\nsize 100\nlistener 777`,
};
const PULL_OK = { stdout: `${marks('pull_start', 'pulled')}\nsize 100` };
const RESTORE_OK = { stdout: `${marks('restore_start', 'restored', 'network', 'resumed')}\nid ${'b'.repeat(64)}\npid 5151` };
const working: Answer = (cmd) => {
  if (cmd.includes('podman container checkpoint')) return SOURCE_OK;
  if (cmd.includes('socat -u -T 5 TCP:')) return PULL_OK;
  if (cmd.includes('podman container restore')) return RESTORE_OK;
  return undefined;
};
const changing = (sent: { cmd: string }[]) =>
  sent.filter((x) => /kill -USR2|podman container checkpoint|podman rm|podman container restore/.test(x.cmd));

describe('no checkpoint without a live path (issue 12: items 3, 4, 5)', () => {
  it('a controller that is not bound refuses the migration before anything changes', async () => {
    ctl.health = 503;
    const h = harness(working);
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(LivePathError);
    expect(e.part).toBe('controller');
    expect(e.message).toMatch(
      /migration 1 lakewood→loveland refused, nothing was changed \(the server still runs on lakewood\): controller \/health at http:\/\/127\.0\.0\.1:\d+ answers 503: switch unreachable/,
    );
    expect(changing(h.sent)).toEqual([]);
    expect(ctl.calls.map((c) => c.path)).toEqual(['/health']);
  });

  it('a dead server container is reported with its podman state, and nothing is signalled', async () => {
    const h = harness((cmd) => (cmd.includes('{{.State.Status}} {{.State.Pid}}') ? { stdout: 'state exited 0' } : working(cmd)));
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(LivePathError);
    expect(e.message).toMatch(/server container p4cf-server not running on lakewood \(podman state: exited\)/);
    expect(changing(h.sent)).toEqual([]);
  });

  it('the source script refuses a PID that is not a live process (`kill -USR2 0` signalled its own group)', () => {
    const bin = mkdtempSync(join(tmpdir(), 'p4cf-fakepodman-'));
    dirs.push(bin);
    writeFileSync(join(bin, 'podman'), '#!/bin/sh\necho exited\n');
    chmodSync(join(bin, 'podman'), 0o755);
    for (const pid of ['0', '', '1', 'x1', '999999999']) {
      const r = spawnSync('sh', ['-c', `pid=${pid}\n${pidGuard('p4cf-server')}\necho signalled`], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
        encoding: 'utf8',
      });
      expect({ pid, code: r.status, out: r.stdout.trim() }).toEqual({ pid, code: 4, out: 'NO-SERVER exited' });
    }
    const live = spawnSync('sh', ['-c', `pid=${process.pid}\n${pidGuard('p4cf-server')}\necho signalled`], { encoding: 'utf8' });
    expect(live.stdout.trim()).toBe('signalled');
  });

  it('a server that died between the check and the quiesce: "not running" with its state, nothing restored', async () => {
    const h = harness((cmd) =>
      cmd.includes('podman container checkpoint') ? { code: 4, stdout: `${marks('start')}\nNO-SERVER exited` } : working(cmd),
    );
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.step).toBe('quiesce');
    expect(e.message).toMatch(
      /server container p4cf-server not running on lakewood \(podman state: exited\); nothing was signalled/,
    );
    expect(e.recovered).toBe(false);
    expect(h.sent.some((x) => x.cmd.includes('podman container restore') || x.cmd.includes('podman kill'))).toBe(false);
  });

  it('a direct link that is down on either end refuses the migration naming the link and hosts', async () => {
    const h = harness((cmd) =>
      cmd.includes('ip -br link show dev') && !cmd.includes('ping') ? { stdout: 'link down' } : working(cmd),
    );
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(LivePathError);
    expect(e.message).toMatch(
      /direct link lakewood \S+ \(192\.168\.10\.2\) ↔ loveland \S+ \(192\.168\.10\.3\): lakewood \S+ is down/,
    );
    expect(changing(h.sent)).toEqual([]);
    const h2 = harness((cmd) => (cmd.includes('ping') ? { stdout: 'link up\npeer unreachable 1' } : working(cmd)));
    const e2 = await migrate(h2.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e2.message).toMatch(/loveland cannot reach 192\.168\.10\.2/);
  });

  it('the pull is bounded by TRANSFER_STALL_TIMEOUT (connect and no-progress) in both methods', () => {
    expect(pullCommand('socat', '10.0.0.1', 19500, '/c/checkpoint.tar', '/t/p4cf-net.mjs', 3000)).toBe(
      'socat -u -T 3 TCP:10.0.0.1:19500,retry=150,interval=0.02,connect-timeout=3 CREATE:/c/checkpoint.tar',
    );
    expect(pullCommand('node', '10.0.0.1', 19500, '/c/checkpoint.tar', '/t/p4cf-net.mjs', 3000)).toBe(
      'node /t/p4cf-net.mjs pull 10.0.0.1 19500 /c/checkpoint.tar 3000',
    );
  });

  it('a stalled transfer names the link, stops the listener, removes the partial copy on the target, then restores on the source', async () => {
    const h = harness((cmd) =>
      cmd.includes('socat -u -T 5 TCP:') ? { stdout: `${marks('pull_start', 'pulled')}\nsize 40` } : working(cmd),
    );
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.step).toBe('transfer');
    expect(e.message).toMatch(
      /over the direct link lakewood \S+ 192\.168\.10\.2:19500 → loveland \S+ \(socat\): stalled after 40 of 100 bytes \(connect timeout 5000 ms, no data for 5000 ms aborts\)/,
    );
    expect(e.recovered).toBe(true);
    const i = (re: RegExp, host: string) => h.sent.findIndex((x) => x.host === host && re.test(x.cmd));
    const listener = i(/kill -TERM -777/, 'lakewood');
    const partial = i(/^rm -f \S+\/checkpoint\.tar$/, 'loveland');
    const restore = i(/podman container restore/, 'lakewood');
    expect(listener).toBeGreaterThan(0);
    expect(partial).toBeGreaterThan(listener);
    expect(restore).toBeGreaterThan(partial);
    // held off the source (at the target's port) while it restores, then back
    expect(ctl.calls.filter((c) => c.path === '/updateForward').map((c) => c.body.sw_port)).toEqual([
      config.LOVELAND_SW_PORT,
      config.LAKEWOOD_SW_PORT,
    ]);
  });

  it('a failed switch update restores on the source and points the switch back there', async () => {
    ctl.update = (b) => (b.sw_port === config.LOVELAND_SW_PORT ? 500 : 200);
    const h = harness(working);
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.step).toBe('switchUpdate');
    expect(e.recovered).toBe(true);
    // the failed update, the hold off the source during its restore, then back
    expect(ctl.calls.filter((c) => c.path === '/updateForward').map((c) => c.body.sw_port)).toEqual([
      config.LOVELAND_SW_PORT,
      config.LOVELAND_SW_PORT,
      config.LAKEWOOD_SW_PORT,
    ]);
    expect(h.sent.filter((x) => x.cmd.includes('podman container restore')).map((x) => x.host)).toEqual(['loveland', 'lakewood']);
    expect(h.state.get('serverHost')).toBe('lakewood');
  });

  it('a controller gone at the switch update: the source restore counts when the service answers through the (unchanged) switch', async () => {
    ctl.update = () => 503;
    const h = harness(working);
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e.recovered).toBe(true);
    expect(e.recovery).toMatch(/the switch could not be pointed back .* it was never moved if the service answers through it/);
  });
});

describe('Ctrl-C inside a migration (issue 12 item 2)', () => {
  it('after the checkpoint: no transfer starts, the server is restored on the source', async () => {
    const ac = new AbortController();
    const h = harness(
      (cmd) => {
        if (cmd.includes('podman container checkpoint')) ac.abort(new Error('interrupted by SIGINT'));
        return working(cmd);
      },
      { signal: ac.signal },
    );
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e.step).toBe('transfer');
    expect(e.message).toMatch(/interrupted by SIGINT: stopped before step transfer/);
    expect(e.recovered).toBe(true);
    expect(h.sent.some((x) => x.cmd.includes('socat -u -T'))).toBe(false);
    expect(h.sent.filter((x) => x.cmd.includes('podman container restore')).map((x) => x.host)).toEqual(['lakewood']);
    expect(h.state.get('serverHost')).toBe('lakewood');
  });

  it('after the restore on the target: the migration finishes there (switch updated) and says so', async () => {
    const ac = new AbortController();
    const h = harness(
      (cmd) => {
        if (cmd.includes('podman container restore')) ac.abort(new Error('interrupted by SIGINT'));
        return working(cmd);
      },
      { signal: ac.signal },
    );
    const t = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 });
    expect(t?.index).toBe(1);
    expect(ctl.calls.filter((c) => c.path === '/updateForward').map((c) => c.body.sw_port)).toEqual([config.LOVELAND_SW_PORT]);
    expect(h.state.get('serverHost')).toBe('loveland');
    expect(h.logs.join('\n')).toMatch(/interrupted after the restore — finished on loveland/);
  });

  it('before it starts: nothing is sent at all', async () => {
    const ac = new AbortController();
    ac.abort(new Error('interrupted by SIGINT'));
    const h = harness(working, { signal: ac.signal });
    await expect(migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 })).rejects.toThrow('interrupted by SIGINT');
    expect(h.sent).toEqual([]);
  });
});

describe('engines', () => {
  it('an engine replaces one step and keeps the rest of the procedure', async () => {
    const h = harness((cmd) =>
      cmd.includes('podman container checkpoint') ? { code: 1, stdout: marks('start', 'quiesced') } : undefined,
    );
    const engine = { ...podmanEngine, name: 'test', drain: { mark: 'drained', script: () => 'echo "drain custom"' } };
    await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1, engine }).catch(() => {});
    const source = h.sent.find((x) => x.cmd.includes('podman container checkpoint'))!.cmd;
    expect(source).toContain('echo "drain custom"');
    expect(source).not.toMatch(/net\/tcp/);
    // the order of the published procedure, each step ending with its mark
    const order = [
      'mark start',
      'kill -USR2',
      'mark quiesced',
      'drain custom',
      'mark drained',
      'podman container checkpoint',
      'mark checkpointed',
      'TCP-LISTEN',
      'mark serving',
    ];
    const at = order.map((t) => source.indexOf(t));
    expect(
      at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1])),
      `order in:\n${source}`,
    ).toBe(true);
  });
});

describe('the server container', () => {
  it('runs without io_uring and with the migration CRIU settings attached', () => {
    const cmd = serverRunCmd(config);
    expect(cmd).toMatch(/ --env UV_USE_IO_URING=0 /);
    expect(cmd).toContain(` --annotation org.criu.config=${CRIU_CONFIG_PATH} `);
    expect(cmd).toMatch(/localhost\/p4cf-stream-server --port 8080 --metrics-port 8081 --fps 30 --padding 512$/);
  });
});
