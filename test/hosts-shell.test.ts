// The zx scripting surface (lib/hosts/shell.ts) on the real local host (sh -c) and on a dry-run
// host: zx's word semantics of interpolation, ProcessOutput-like results, nothrow/quiet/timeout,
// error contents, the dry-run placeholder, sudo and the abort signal.
import { describe, expect, it } from 'vitest';
import { createDryRunHost, createPlan } from '../lib/hosts/dryrun.ts';
import { CommandAbortedError, RemoteError } from '../lib/hosts/errors.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { quote, raw, sh } from '../lib/hosts/quote.ts';
import { HostOutput, hostsOf } from '../lib/hosts/shell.ts';
import type { Host, HostName } from '../lib/hosts/types.ts';
import { createLogger } from '../lib/run/log.ts';

const local = createLocalHost();
const src = (h: Host = local, signal?: AbortSignal) => ({ host: (_: HostName) => h, signal });
const { onLocal, onServer, onTofino } = hostsOf(src());

// Every value zx's $ treats as one word, and what it must arrive as.
const WORDS = [
  'a b',
  "it's",
  '"dq"',
  '$HOME',
  '$(echo PWNED)',
  '`echo PWNED`',
  'line1\nline2',
  '',
  ' lead',
  'trail ',
  'semi;colon',
  '*',
  '\\',
  '-n',
  'tab\there',
  'ünï',
];

describe('interpolation (zx word semantics, POSIX quotes)', () => {
  it('each value arrives as exactly one argument, whatever it contains', async () => {
    for (const w of WORDS) {
      const r = await onLocal`printf '<%s>' ${w}`;
      expect(r.stdout, JSON.stringify(w)).toBe(`<${w}>`);
    }
  });
  it('an array is several words, an empty array none, an empty string one empty word', async () => {
    expect((await onLocal`printf '<%s>' ${['a b', '', "c'd"]}`).stdout).toBe("<a b><><c'd>");
    expect((await onLocal`printf '<%s>' x ${[]}`).stdout).toBe('<x>');
    expect((await onLocal`sh -c 'echo $#' _ ${''} ${''}`).stdout).toBe('2\n');
  });
  it('numbers as words, raw() unquoted, undefined refused, a previous result as its trimmed stdout', async () => {
    expect(sh`x ${8080} ${raw('>/dev/null')}`).toBe('x 8080 >/dev/null');
    expect(() => onLocal`echo ${undefined}`).toThrow(/cannot interpolate undefined/);
    const who = await onLocal`printf 'a b\n'`;
    expect((await onLocal`printf '<%s>' ${who}`).stdout).toBe('<a b>');
    // POSIX only: no bash $'…' (the hosts run dash)
    expect(quote('line1\nline2')).toBe("'line1\nline2'");
    expect(quote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('results and pending commands (zx ProcessOutput / ProcessPromise)', () => {
  it('stdout, stderr, exitCode, text(), lines(), json(), valueOf()', async () => {
    const r = await onLocal`printf 'one\ntwo\n'; echo err >&2`;
    expect(r).toBeInstanceOf(HostOutput);
    expect(r).toMatchObject({ stdout: 'one\ntwo\n', stderr: 'err\n', exitCode: 0, host: 'local', ok: true });
    expect(r.text()).toBe('one\ntwo\n');
    expect(r.lines()).toEqual(['one', 'two']);
    expect(`${r}`).toBe('one\ntwo\n');
    expect(await onLocal`echo '{"a":[1,2]}'`.json()).toEqual({ a: [1, 2] });
    expect(await onLocal`printf 'x\ny'`.lines()).toEqual(['x', 'y']);
    expect(await onLocal`printf hi`.text()).toBe('hi');
    await expect(onLocal`echo nope`.json()).rejects.toThrow(/output is not JSON/);
  });
  it('a failure throws RemoteError with host, command, exit code and stderr tail', async () => {
    const e = await onLocal`echo first >&2; echo last >&2; exit 3`.catch((x) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e).toMatchObject({
      host: 'local',
      code: 3,
      command: 'echo first >&2; echo last >&2; exit 3',
      stderrTail: 'first\nlast',
    });
    expect(e.message).toMatch(/\[local\] command failed with exit code 3/);
  });
  it('.nothrow() resolves with the exit code instead', async () => {
    const r = await onLocal`echo out; exit 7`.nothrow();
    expect(r.exitCode).toBe(7);
    expect(r.ok).toBe(false);
    expect(r.stdout).toBe('out\n');
    expect((await onLocal({ nothrow: true })`exit 2`).exitCode).toBe(2);
  });
  it('.timeout(ms) ends the command (RemoteError names the timeout)', async () => {
    const t0 = Date.now();
    const e = await onLocal`sleep 5`.timeout(300).catch((x) => x);
    expect(e).toBeInstanceOf(RemoteError);
    expect(e.message).toMatch(/timed out after 300 ms/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });
  it('.quiet() keeps output out of the log, .verbose() streams it as [host] lines', async () => {
    const lines: string[] = [];
    const log = { ...createLogger({ silent: true }), host: (h: string, l: string) => lines.push(`[${h}] ${l}`) };
    const h = createLocalHost({ log });
    const on = hostsOf(src(h)).onLocal;
    await on`echo hidden`;
    await on`echo hidden2`.quiet();
    await on`echo shown`.verbose();
    const text = lines.join('\n');
    expect(text).toMatch(/shown/);
    expect(text).not.toMatch(/hidden/);
  });
  it('options chained after the command started are refused', async () => {
    const p = onLocal`true`;
    await p;
    expect(() => p.nothrow()).toThrow(/chained before the command starts/);
  });
  it('input, cwd and env options', async () => {
    expect((await onLocal({ input: 'in put' })`cat`).stdout).toBe('in put');
    expect((await onLocal({ cwd: '/tmp', env: { P4CF_X: 'v w' } })`pwd; echo "$P4CF_X"`).stdout).toBe('/tmp\nv w\n');
  });
  it('onServer refuses a name that is not a server', () => {
    expect(() => onServer('tofino' as never)).toThrow(/expected a server name/);
    expect(onTofino.hostName).toBe('tofino');
  });
});

describe('dry run, sudo and abort inside the helpers', () => {
  it('dry run: the command goes into the plan and the declared placeholder comes back', async () => {
    const plan = createPlan(() => {});
    const { onServer: on } = hostsOf({ host: (n) => createDryRunHost(n, plan) });
    const id = await on('lakewood')`podman run -d ${'p4cf server'}`.dryRun('<container id>');
    expect(id.stdout).toBe('<container id>');
    const pid = await on('lakewood')`podman inspect`.dryRun('<server pid>');
    expect(Number(pid.stdout)).toBeGreaterThan(4_194_304);
    expect(plan.byHost().lakewood).toEqual(["podman run -d 'p4cf server'", 'podman inspect']);
  });
  it('sudo policy: a non-root login runs commands through sudo -n, sudo:false runs as the login user', async () => {
    const plan = createPlan(() => {});
    const h = createDryRunHost('tofino', plan, { sudo: true });
    const { onTofino: on } = hostsOf({ host: () => h });
    await on`podman ps`;
    await on({ sudo: false })`sudo -n true`;
    expect(plan.byHost().tofino).toEqual(['sudo -n podman ps', 'sudo -n true']);
  });
  it('a fired abort signal refuses to start a command and ends a running one', async () => {
    const ac = new AbortController();
    const on = hostsOf(src(local, ac.signal)).onLocal;
    const marker = `/tmp/p4cf-abort-${process.pid}`;
    const t0 = Date.now();
    const running = on`sleep 5; touch ${marker}`.catch((x) => x);
    setTimeout(() => ac.abort(), 200);
    const e = await running;
    expect(e).toBeInstanceOf(CommandAbortedError);
    expect(e.started).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
    const refused = await on`touch ${marker}`.catch((x) => x);
    expect(refused).toBeInstanceOf(CommandAbortedError);
    expect(refused.started).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect((await onLocal`test -e ${marker}`.nothrow()).exitCode).toBe(1);
  });
});
