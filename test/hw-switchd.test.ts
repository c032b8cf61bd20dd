// The hardware switch daemon's start, executed: the switchd phase's hw branch against a fake SDE
// tree whose bin/bf_switchd is a stand-in that checks its arguments and the conf's files like the
// real one, in a private PID/network namespace (so pgrep sees only this test's processes).
// Covers a clean start, adopting a bf_switchd p4cf did not start, reusing its own, a switchd that
// exits while starting (reported at once with its log tail), missing artifacts, hugepages, driver.
// Its processes named bf_switchd are visible from the machine's own PID namespace (an emulated-
// hardware run's pgrep would see them): run it under the testbed lock, like the namespace tests.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { ensureLocalNetTool, NETTOOL } from '../lib/nettool/index.ts';
import { createCleanup } from '../lib/run/cleanup.ts';
import { createContext, type RunContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { openState } from '../lib/run/rundir.ts';
import { DaemonError, recordedPid } from '../lib/hosts/daemons.ts';
import { hwSwitchDaemon } from '../lib/modes/hw/switchd.ts';
import { ensureSwitchDaemon, SwitchdStartError } from '../experiments/phases/switchd.ts';
import { openPidNs, type PidNs } from './helpers/pidns.ts';

const root = process.getuid?.() === 0;
if (!root) console.log('hw-switchd.test.ts: skipped — needs root (unshare of a PID/network namespace)');
const repo = resolve(import.meta.dirname, '..');
const PROGRAM = 'tna_load_balancer';

// Stand-in for $SDE_INSTALL/bin/bf_switchd: refuses what the real one refuses (unknown or missing
// arguments, a conf whose files are absent), then behaves as bin/mode says: serve BF Runtime's
// port (held by a child, so this process keeps the name bf_switchd) or fail like a missing driver.
const STAND_IN = `#!/bin/sh
install= conf=
while [ $# -gt 0 ]; do
  case "$1" in
    --background) shift ;;
    --status-port) shift 2 ;;
    --install-dir) install=$2; shift 2 ;;
    --conf-file) conf=$2; shift 2 ;;
    *) echo "bf_switchd: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -d "$install" ] || { echo "bf_switchd: --install-dir $install is not a folder" >&2; exit 2; }
[ -f "$conf" ] || { echo "bf_switchd: cannot open conf $conf" >&2; exit 2; }
for k in bfrt-config context config agent0; do
  for p in $(sed -n "s/.*\\"$k\\": *\\"\\([^\\"]*\\)\\".*/\\1/p" "$conf"); do
    [ -e "$install/$p" ] || { echo "bf_switchd: $k $install/$p not found" >&2; exit 1; }
  done
done
echo "bf_switchd: drivers initialized"
case "$(cat "$(dirname "$0")/mode")" in
  fail) sleep 0.3; echo "error opening /dev/bf0"; echo "ERROR: bf_switchd_device_add failed"; exit 1 ;;
  slow) sleep 3600 ;;
esac
node -e "require('net').createServer((s) => s.end()).listen(50052, '127.0.0.1', () => console.log('bfrt grpc server started on 0.0.0.0:50052'))" &
wait
`;

describe.skipIf(!root)('hardware switchd start (fake SDE, stand-in bf_switchd)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'p4hw-switchd-'));
  const install = join(tmp, 'sde', 'install');
  const project = join(tmp, 'project');
  const files = { meminfo: join(tmp, 'meminfo'), modules: join(tmp, 'modules') };
  const device = join(tmp, 'dev-bf0');
  let ns: PidNs;
  let ctx: RunContext;
  let warnings: string[];
  const art = (rel: string) => join(install, rel);
  const mode = (m: 'serve' | 'fail' | 'slow') => writeFileSync(art('bin/mode'), m);
  const sd = () => hwSwitchDaemon({ config: ctx.config, dir: join(project, 'tofino'), projectDir: repo }, files);

  beforeAll(async () => {
    ns = await openPidNs();
  });
  afterAll(() => {
    ns?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    rmSync(tmp, { recursive: true, force: true });
    for (const rel of [
      'bin/bf_switchd',
      'lib/libpltfm_mgr.so',
      `share/tofinopd/${PROGRAM}/bf-rt.json`,
      `share/tofinopd/${PROGRAM}/pipe/context.json`,
      `share/tofinopd/${PROGRAM}/pipe/tofino.bin`,
    ]) {
      mkdirSync(dirname(art(rel)), { recursive: true });
      writeFileSync(art(rel), rel.endsWith('.json') ? '{}\n' : '');
    }
    writeFileSync(art('bin/bf_switchd'), STAND_IN);
    chmodSync(art('bin/bf_switchd'), 0o755);
    mode('serve');
    mkdirSync(join(project, 'tofino', 'conf'), { recursive: true });
    copyFileSync(join(repo, 'p4', 'conf', `${PROGRAM}.conf`), join(project, 'tofino', 'conf', `${PROGRAM}.conf`));
    // what the sync phase ships to the switch: the readiness gate runs p4cf-net there
    copyFileSync(await ensureLocalNetTool(), join(project, 'tofino', NETTOOL));
    writeFileSync(files.meminfo, 'MemTotal: 8000000 kB\nHugePages_Total:     128\nHugePages_Free:      128\n');
    writeFileSync(files.modules, 'bf_kdrv 49152 0 - Live 0x0000000000000000 (O)\nveth 40960 0 - Live 0x0\n');
    writeFileSync(device, '');
    const loaded = loadConfig({
      cwd: tmp,
      env: {},
      argv: [
        '--set',
        'TESTBED=hw',
        '--set',
        'TOFINO_SSH=lab@sw.lab.test',
        '--set',
        'LAKEWOOD_SSH=lab@lw.lab.test',
        '--set',
        'LOVELAND_SSH=lab@lv.lab.test',
        '--set',
        `SDE=${join(tmp, 'sde')}`,
        '--set',
        `SDE_INSTALL=${install}`,
        '--set',
        `REMOTE_PROJECT_DIR=${project}/{host}`,
        '--set',
        'SWITCHD_READY_TIMEOUT=20s',
        '--set',
        `SWITCHD_DEVICE=${device}`,
      ],
    });
    warnings = [];
    const log = createLogger({
      out: { write: () => true } as never,
      err: {
        write: (s: string) => {
          warnings.push(String(s));
          return true;
        },
      } as never,
      tty: false,
    });
    const cleanup = createCleanup({ log });
    // a fresh namespace per test: nothing of the previous test's processes remains
    ns?.close();
    ns = await openPidNs();
    const host = ns.host('tofino');
    ctx = createContext({ loaded, dir: join(tmp, 'run'), log, cleanup, state: openState(), makeHost: () => host });
  });

  it("checks the conf's files, starts bf_switchd, records it, and reuses it on the next run", async () => {
    const r = await ensureSwitchDaemon(ctx, sd());
    expect(r).toMatchObject({ fresh: true, adopted: false });
    const tofino = ctx.host('tofino');
    expect(await recordedPid(tofino, join(project, 'tofino'), 'switchd')).toBe(r.pid);
    const cmd = await tofino.exec(`tr '\\0' ' ' < /proc/${r.pid}/cmdline`, { quiet: true });
    expect(cmd.stdout).toContain(`--install-dir ${install} --conf-file ${project}/tofino/conf/${PROGRAM}.conf`);
    // it outlives the run: no undo stops it
    expect(ctx.cleanup.pending().filter((l) => l.includes('switchd'))).toEqual([]);
    const again = await ensureSwitchDaemon(ctx, sd());
    expect(again).toEqual({ pid: r.pid, fresh: false, adopted: false });
  });

  it('restarts a bf_switchd it started with other settings (a sweep point that changes them), instead of reusing it', async () => {
    const first = await ensureSwitchDaemon(ctx, sd());
    const other = { ...sd(), env: { ...sd().env, P4CF_TEST_SETTING: 'another' } };
    const r = await ensureSwitchDaemon(ctx, other);
    expect(r).toMatchObject({ fresh: true, adopted: false });
    expect(r.pid).not.toBe(first.pid);
    const tofino = ctx.host('tofino');
    // gone, or a zombie no one reaps in this PID namespace
    const state = await tofino.exec(`awk '{ sub(/^.*\\) /, ""); print $1 }' /proc/${first.pid}/stat 2>/dev/null`, {
      quiet: true,
      allowFail: true,
    });
    expect(['', 'Z']).toContain(state.stdout.trim());
    expect(await recordedPid(tofino, join(project, 'tofino'), 'switchd')).toBe(r.pid);
    // the same settings again: reused
    expect(await ensureSwitchDaemon(ctx, other)).toEqual({ pid: r.pid, fresh: false, adopted: false });
  });

  it('adopts a bf_switchd it did not start: no second one, not fresh, never recorded or stopped', async () => {
    const tofino = ctx.host('tofino');
    await tofino.exec(
      `setsid nohup ${art('bin/bf_switchd')} --install-dir ${install} --conf-file ${project}/tofino/conf/${PROGRAM}.conf >/dev/null 2>&1 </dev/null &`,
    );
    const r = await ensureSwitchDaemon(ctx, sd());
    expect(r.adopted).toBe(true);
    expect(r.fresh).toBe(false);
    expect(warnings.join('')).toMatch(/switchd this project did not start runs on tofino \(pid \d+: .*bf_switchd --install-dir/);
    const procs = await tofino.exec('pgrep -x bf_switchd', { quiet: true });
    expect(procs.stdout.trim().split('\n')).toEqual([String(r.pid)]);
    expect(await recordedPid(tofino, join(project, 'tofino'), 'switchd')).toBeUndefined();
  });

  it('refuses to adopt a bf_switchd that serves another program, and starts nothing beside it', async () => {
    const other = join(tmp, 'other-sde', 'bf_switchd');
    mkdirSync(dirname(other), { recursive: true });
    writeFileSync(other, '#!/bin/sh\nsleep 3600 &\nwait\n');
    chmodSync(other, 0o755);
    await ctx
      .host('tofino')
      .exec(
        `setsid nohup ${other} --conf-file /opt/sde/share/p4/targets/tofino2/t2na_load_balancer.conf >/dev/null 2>&1 </dev/null & sleep 0.3`,
      );
    const e = await ensureSwitchDaemon(ctx, sd()).catch((x) => x);
    expect(e).toBeInstanceOf(SwitchdStartError);
    expect(e.problems[0]).toMatch(/does not name tna_load_balancer \(ARCH=tf1\).*clean.ts --foreign/);
    const procs = await ctx.host('tofino').exec('pgrep -x bf_switchd', { quiet: true });
    expect(procs.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('reports a switchd that exits while starting at once, with its log tail, not after the timeout', async () => {
    mode('fail');
    const t0 = Date.now();
    const e = await ensureSwitchDaemon(ctx, sd()).catch((x) => x);
    expect(e).toBeInstanceOf(DaemonError);
    expect(e.failure).toBe('exited');
    expect(e.message).toMatch(/switchd exited while starting/);
    expect(e.logTail).toContain('error opening /dev/bf0');
    expect(Date.now() - t0).toBeLessThan(15_000); // SWITCHD_READY_TIMEOUT is 20 s
  });

  it('names every missing artifact, hugepages and the driver before starting anything', async () => {
    rmSync(art(`share/tofinopd/${PROGRAM}/pipe/tofino.bin`));
    rmSync(art(`share/tofinopd/${PROGRAM}/bf-rt.json`));
    writeFileSync(files.meminfo, 'HugePages_Total:       0\nHugePages_Free:        0\n');
    writeFileSync(files.modules, 'veth 40960 0 - Live 0x0\n');
    rmSync(device);
    const e = await ensureSwitchDaemon(ctx, sd()).catch((x) => x);
    expect(e).toBeInstanceOf(SwitchdStartError);
    const text = e.problems.join('\n');
    expect(text).toMatch(
      new RegExp(
        `pipeline binary ${install}/share/tofinopd/${PROGRAM}/pipe/tofino.bin \\(config in .*\\) is missing: .*hw/compile-p4.ts --arch tf1`,
      ),
    );
    expect(text).toMatch(/BF Runtime schema .*bf-rt.json \(bfrt-config in/);
    expect(text).toMatch(/HugePages_Total is 0 .* needs 128 .*sysctl -w vm.nr_hugepages=128/);
    expect(text).toMatch(
      /device node .*dev-bf0 \(SWITCHD_DEVICE\) is missing and no ASIC kernel driver is loaded \(neither bf_kdrv nor bf_kpkt .*hw\/kernel-modules.ts/,
    );
    expect(e.problems).toHaveLength(4);
    const procs = await ctx.host('tofino').exec('pgrep -x bf_switchd', { quiet: true, allowFail: true });
    expect(procs.stdout.trim()).toBe('');
  });

  it('refuses a loaded driver without its device node, and a conf missing on the switch', async () => {
    rmSync(device);
    const e = await ensureSwitchDaemon(ctx, sd()).catch((x) => x);
    expect(e.problems).toEqual([
      expect.stringMatching(/device node .*dev-bf0 \(SWITCHD_DEVICE\) is missing although bf_kdrv is loaded/),
    ]);
    rmSync(join(project, 'tofino', 'conf'), { recursive: true });
    const e2 = await ensureSwitchDaemon(ctx, sd()).catch((x) => x);
    expect(e2.problems).toEqual([
      expect.stringMatching(
        /switchd conf .*tna_load_balancer.conf is missing on the switch \(SWITCHD_CONF=conf\/\{program\}.conf/,
      ),
    ]);
  });

  it('does not ask a model conf (virtual chip) for the device node or a driver', async () => {
    rmSync(device);
    copyFileSync(join(repo, 'p4', 'conf', `${PROGRAM}.model.conf`), join(project, 'tofino', 'conf', `${PROGRAM}.model.conf`));
    const model = hwSwitchDaemon(
      { config: { ...ctx.config, SWITCHD_CONF: 'conf/{program}.model.conf' }, dir: join(project, 'tofino'), projectDir: repo },
      files,
    );
    expect(await model.startProblems(ctx.host('tofino'))).toEqual([]);
    expect((await sd().startProblems(ctx.host('tofino')))[0]).toMatch(/SWITCHD_DEVICE/);
  });

  it('times out a switchd that runs but never serves, with its log tail', async () => {
    mode('slow');
    const e = await ensureSwitchDaemon(ctx, { ...sd(), readyTimeoutMs: 1500, readyIntervalMs: 200 }).catch((x) => x);
    expect(e).toBeInstanceOf(DaemonError);
    expect(e.failure).toBe('timeout');
    expect(e.logTail).toContain('bf_switchd: drivers initialized');
  });
});
