// The migration's failure paths with scripted hosts (the commands are the real ones; only what the
// hosts answer is made up): a failed step becomes a MigrationError with typed fields, recovery
// acts on the step that failed, and a failed restore is diagnosed once into the run folder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYS, type Config } from '../lib/config/keys.ts';
import { parseByType } from '../lib/config/values.ts';
import type { ExecResult, Host } from '../lib/hosts/types.ts';
import { migrate, MigrationError, type MigrationContext } from '../lib/migration/migrate.ts';
import { podmanEngine } from '../lib/migration/podman.ts';
import { serverRunCmd } from '../lib/server/infra.ts';
import { CRIU_CONFIG_PATH } from '../lib/migration/criu.ts';

const config = { ...Object.fromEntries(Object.entries(KEYS).map(([k, d]) => [k, parseByType(d.type, d.default)])), TRANSFER_METHOD: 'socat' } as unknown as Config;
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

type Answer = (cmd: string) => Partial<ExecResult> | undefined;
const marks = (...names: string[]) => names.map((n, i) => `mark ${n} ${1_000_000_000 + i * 1_000_000}`).join('\n');

function harness(answer: Answer) {
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
    upload: async () => {}, download: async () => {}, close: async () => {},
    background: async () => { throw new Error('no background here'); },
    forward: async () => { throw new Error('no forward here'); },
  });
  const hosts = new Map<string, Host>();
  const state = new Map<string, unknown>([['serverHost', 'lakewood'], ['serverProc', { pid: 4242, id: 'a'.repeat(64) }]]);
  const logs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'p4cf-migsteps-'));
  dirs.push(dir);
  const ctx: MigrationContext = {
    config, dir, dryRun: false,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(`WARN ${m}`), error: (m) => logs.push(`ERROR ${m}`), step: (_p, m) => logs.push(m) },
    cleanup: { add: () => () => {} },
    state: { get: (k) => state.get(k), set: (k, v) => { state.set(k, v); } },
    host: (n) => { let h = hosts.get(n); if (!h) { h = host(n); hosts.set(n, h); } return h; },
  };
  return { ctx, sent, state, logs, dir };
}

describe('migration failures are typed and recovered from', () => {
  it('a failed checkpoint resumes the server on the source: step checkpoint, recovered', async () => {
    const h = harness((cmd) => (cmd.includes('podman container checkpoint')
      ? { code: 125, stdout: `${marks('start', 'quiesced', 'drained')}\npid 4242\nquiesced\ndrain drained polls=0`, stderr: 'Error: criu failed: type DUMP errno 0' }
      : undefined));
    const e = await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect({ step: e.step, recovered: e.recovered, index: e.index, source: e.source, target: e.target, diagnosisFile: e.diagnosisFile })
      .toEqual({ step: 'checkpoint', recovered: true, index: 1, source: 'lakewood', target: 'loveland', diagnosisFile: undefined });
    expect(e.cause.message).toMatch(/criu failed/);
    expect(h.sent.some((s) => s.host === 'lakewood' && s.cmd.includes('podman kill --signal USR2 p4cf-server'))).toBe(true);
    expect(h.sent.some((s) => s.cmd.includes('podman container restore'))).toBe(false);
    expect(h.state.get('serverHost')).toBe('lakewood');
  });

  it('a failed restore is diagnosed once into the run folder; a failed recovery says so', async () => {
    const h = harness((cmd) => {
      if (cmd.includes('podman container checkpoint')) {
        return { stdout: `${marks('start', 'quiesced', 'drained', 'checkpointed', 'serving')}\npid 4242\nquiesced\ndrain drained polls=0\ncheckpointed\nsize 100` };
      }
      if (cmd.includes('socat -u TCP:')) return { stdout: `${marks('pull_start', 'pulled')}\nsize 100` };
      if (cmd.includes('podman container restore')) {
        return { code: 3, stdout: `${marks('restore_start')}\nRESTORE-FAILED\nError: criu failed\nlog file: /u/restore.log` };
      }
      if (cmd === 'cat /u/restore.log') return { stdout: "(00.1)      1: Error (criu/files.c:1): Magic doesn't match for tcp-stream-1.img\n" };
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

describe('engines', () => {
  it('an engine replaces one step and keeps the rest of the procedure', async () => {
    const h = harness((cmd) => (cmd.includes('podman container checkpoint') ? { code: 1, stdout: marks('start', 'quiesced') } : undefined));
    const engine = { ...podmanEngine, name: 'test', drain: { mark: 'drained', script: () => 'echo "drain custom"' } };
    await migrate(h.ctx, { direction: 'lakewood_loveland', index: 1, engine }).catch(() => {});
    const source = h.sent.find((x) => x.cmd.includes('podman container checkpoint'))!.cmd;
    expect(source).toContain('echo "drain custom"');
    expect(source).not.toMatch(/net\/tcp/);
    // the order of the published procedure, each step ending with its mark
    const order = ['mark start', 'kill -USR2', 'mark quiesced', 'drain custom', 'mark drained', 'podman container checkpoint', 'mark checkpointed', 'TCP-LISTEN', 'mark serving'];
    const at = order.map((t) => source.indexOf(t));
    expect(at.every((x, i) => x >= 0 && (i === 0 || x > at[i - 1])), `order in:\n${source}`).toBe(true);
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
