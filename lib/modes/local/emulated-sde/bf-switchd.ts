// Stand-in for the SDE's bf_switchd in the emulated lab (`testbed.ts up --emulate-hw`). It is
// installed, bundled, as $SDE_INSTALL/bin/bf_switchd and is as strict about its inputs as the real
// one, then serves the switch model (BF Runtime gRPC, nftables data plane) on the board's ports:
//   - options: the real bf_switchd's long options (getopt_long: unknown ones are refused with
//     exit 1; without --install-dir or --conf-file it prints the real ERROR line and exits 0)
//   - --background is required (without it the real one starts its CLI on stdin)
//   - the conf: JSON, a p4_devices entry whose programs' bfrt-config, context and config (binary)
//     and the agent0 library exist under --install-dir; chip_family fits the emulated board
//   - hugepages: HugePages_Total in /proc/meminfo at least the board's minimum (DMA memory)
//   - the device node named by the board must exist, be a character device and be openable
//     (root only, like /dev/bf0), and is locked while this process runs: a second bf_switchd
//     on the same device fails with "busy", as the real one fails with EBUSY
// The board (device path, hugepage minimum, chip, dev port → interface map, model path) is
// $SDE_INSTALL/share/p4cf-emulation/board.json, written by lib/modes/local/emulate-hw.ts.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface Board {
  chipFamily: 'tofino' | 'tofino2';
  device: string;
  hugepages: number;
  ports: Record<string, string>;
  /** Directory holding switch-model.mjs, bfruntime.proto and the programs' bf-rt.json. */
  modelDir: string;
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  'install-dir': { type: 'string' },
  'conf-file': { type: 'string' },
  'tcp-port-base': { type: 'string' },
  'skip-p4': { type: 'boolean' },
  'skip-hld': { type: 'string' },
  'skip-port-add': { type: 'boolean' },
  'skip-dma': { type: 'boolean' },
  'status-port': { type: 'string' },
  'bfrt-grpc-port': { type: 'string' },
  'kernel-pkt': { type: 'boolean' },
  background: { type: 'boolean' },
  ucli: { type: 'boolean' },
  'server-listen-local-only': { type: 'boolean' },
  'init-mode': { type: 'string' },
  'p4rt-server': { type: 'string' },
  'shell-no-wait': { type: 'boolean' },
} as const;

const USAGE = `bf_switchd (p4cf emulated lab: stand-in for the SDE's bf_switchd)
Usage: bf_switchd --conf-file <file> [OPTIONS]...
 --install-dir=directory that has installed build artifacts
 --conf-file=configuration file for bf_switchd
 --background Disable interactive features so bf_switchd can run in the background
 --status-port=TCP port of the device status server
 --bfrt-grpc-port=BF Runtime gRPC port (default 50052)
 --server-listen-local-only gRPC on 127.0.0.1 only
 -h,--help Display this help message and exit`;

const log = (line: string): void => console.log(`${new Date().toISOString()} bf_switchd: ${line}`);
function fail(msg: string, code = 1): never {
  console.log(`ERROR: ${msg}`);
  process.exit(code);
}

function port(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n < 1 || n > 65535) fail(`--${flag} ${JSON.stringify(v)}: expected a TCP port 1-65535`);
  return n;
}

/** Every problem of the conf, with the path it names; the programs it loads. */
export function confProblems(
  confText: string,
  confPath: string,
  installDir: string,
  board: Pick<Board, 'chipFamily'>,
): { problems: string[]; programs: { name: string; bfrt: string }[] } {
  let conf: any;
  try {
    conf = JSON.parse(confText);
  } catch (e) {
    return { problems: [`${confPath} is not JSON: ${(e as Error).message}`], programs: [] };
  }
  const problems: string[] = [];
  const at = (p: string): string => (isAbsolute(p) ? p : join(installDir, p));
  const need = (what: string, p: unknown, kind: 'file' | 'dir' = 'file'): void => {
    if (typeof p !== 'string' || !p) {
      problems.push(`${confPath}: ${what} is missing`);
      return;
    }
    const full = at(p);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(full);
    } catch {
      problems.push(`${what} ${p}: ${full} does not exist`);
      return;
    }
    if (kind === 'file' ? !st.isFile() : !st.isDirectory()) problems.push(`${what} ${p}: ${full} is not a ${kind}`);
  };
  const chip = conf?.chip_list?.[0];
  if (!chip) problems.push(`${confPath}: no chip_list entry`);
  else {
    if (String(chip.chip_family ?? '').toLowerCase() !== board.chipFamily)
      problems.push(`${confPath}: chip_family ${JSON.stringify(chip.chip_family)}, but this board has a ${board.chipFamily}`);
    if (chip.virtual)
      problems.push(`${confPath}: chip "virtual": true is the software model's conf (tofino-model); this is the hardware switch`);
    if (chip.sds_fw_path !== undefined) need('sds_fw_path', chip.sds_fw_path, 'dir');
  }
  const dev = conf?.p4_devices?.[0];
  if (!dev) problems.push(`${confPath}: no p4_devices entry`);
  if (dev?.agent0 !== undefined) need('agent0', dev.agent0);
  const programs: { name: string; bfrt: string }[] = [];
  const progs: any[] = dev?.p4_programs ?? [];
  if (dev && !progs.length) problems.push(`${confPath}: p4_devices[0] has no p4_programs`);
  for (const p of progs) {
    const name = String(p?.['program-name'] ?? '');
    if (!name) problems.push(`${confPath}: a p4_programs entry has no program-name`);
    need(`${name} bfrt-config`, p?.['bfrt-config']);
    const pipes: any[] = p?.p4_pipelines ?? [];
    if (!pipes.length) problems.push(`${confPath}: ${name} has no p4_pipelines`);
    for (const pipe of pipes) {
      need(`${name} context`, pipe?.context);
      need(`${name} config`, pipe?.config);
    }
    if (typeof p?.['bfrt-config'] === 'string') programs.push({ name, bfrt: at(p['bfrt-config']) });
  }
  return { problems, programs };
}

export function hugepagesTotal(meminfo: string): number {
  return Number(/^HugePages_Total:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
}

/** Hold an exclusive lock on the device for this process's lifetime (flock(1) on a pipe we keep open). */
let quitting = false;
function lockDevice(device: string): Promise<void> {
  return new Promise((res) => {
    const holder = spawn(
      'flock',
      ['--nonblock', '--conflict-exit-code', '75', device, 'sh', '-c', 'echo locked; exec cat >/dev/null'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    holder.stdout.once('data', () => res());
    holder.once('exit', (code) => {
      if (quitting) return;
      if (code === 75)
        fail(`device ${device} is busy (EBUSY): another bf_switchd holds it; stop that one first (pgrep -x bf_switchd)`);
      fail(`lost the lock on ${device} (flock exited with ${code})`);
    });
  });
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    console.log(`bf_switchd: ${(e as Error).message}\n${USAGE}`);
    process.exit(1);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const installDir = values['install-dir'] as string | undefined;
  const confFile = values['conf-file'] as string | undefined;
  // the real bf_switchd exits 0 here
  if (!installDir || !confFile) fail('--install-dir and --conf-file must be specified', 0);
  if (!values.background)
    fail('no --background: bf_switchd would start its interactive shell on stdin; run it with --background');
  const statusPort = values['status-port'] === undefined ? undefined : port('status-port', values['status-port'] as string, 0);
  const grpcPort = port('bfrt-grpc-port', values['bfrt-grpc-port'] as string | undefined, 50052);

  const here = dirname(fileURLToPath(import.meta.url));
  const boardPath = resolve(here, '..', '..', 'share', 'p4cf-emulation', 'board.json');
  let board: Board;
  try {
    board = JSON.parse(readFileSync(boardPath, 'utf8')) as Board;
  } catch (e) {
    fail(`emulated board description ${boardPath}: ${(e as Error).message}`);
  }
  const install = resolve(installDir);
  for (const d of ['bin', 'lib', 'share'])
    if (!existsSync(join(install, d)))
      fail(`--install-dir ${installDir}: ${join(install, d)} does not exist (expected an SDE install prefix)`);
  let confText: string;
  try {
    confText = readFileSync(confFile, 'utf8');
  } catch (e) {
    fail(`--conf-file ${confFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const { problems, programs } = confProblems(confText, confFile, install, board);
  for (const p of programs) {
    const ours = join(board.modelDir, `${p.name}.bf-rt.json`);
    if (!existsSync(ours)) {
      problems.push(
        `program ${p.name}: this emulated switch runs only the programs it has a model for (${board.modelDir}/*.bf-rt.json)`,
      );
      continue;
    }
    if (existsSync(p.bfrt) && readFileSync(p.bfrt, 'utf8') !== readFileSync(ours, 'utf8'))
      problems.push(
        `program ${p.name}: ${p.bfrt} is not the bf-rt.json the model implements (${ours}); recompile with hw/compile-p4.ts`,
      );
  }
  if (problems.length) fail(`conf ${confFile}:\n  ${problems.join('\n  ')}`);
  if (programs.length !== 1)
    fail(`conf ${confFile}: the emulated switch loads exactly one program; the conf names ${programs.length}`);

  const pages = hugepagesTotal(readFileSync('/proc/meminfo', 'utf8'));
  if (pages < board.hugepages)
    fail(
      `DMA memory: HugePages_Total is ${pages} in /proc/meminfo, need at least ${board.hugepages} (sysctl -w vm.nr_hugepages=${board.hugepages})`,
    );
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(board.device);
  } catch {
    fail(`device ${board.device} does not exist: is the kernel driver (bf_kdrv) loaded?`);
  }
  if (!st.isCharacterDevice()) fail(`device ${board.device} is not a character device`);
  try {
    accessSync(board.device, constants.R_OK | constants.W_OK);
  } catch (e) {
    fail(`cannot open device ${board.device}: ${(e as NodeJS.ErrnoException).code} (bf_switchd must run as root)`);
  }
  await lockDevice(board.device);
  log(`device ${board.device} opened; ${pages} hugepages; conf ${confFile}; program ${programs[0].name}`);

  const listen = values['server-listen-local-only'] ? '127.0.0.1' : '0.0.0.0';
  if (statusPort !== undefined) {
    const status = createServer((s) => s.end('ready\n'));
    await new Promise<void>((res) => {
      status.once('error', (e) => fail(`status port ${statusPort}: ${e.message}`));
      status.listen(statusPort, listen, () => res());
    });
    status.unref();
  }
  const portArgs = Object.entries(board.ports).flatMap(([dev, ifname]) => ['--port', `${dev}=${ifname}`]);
  const model = spawn(
    process.execPath,
    [join(board.modelDir, 'switch-model.mjs'), '--listen', `${listen}:${grpcPort}`, '--program', programs[0].name, ...portArgs],
    { stdio: 'inherit' },
  );
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const)
    process.on(sig, () => {
      quitting = true;
      log(`received ${sig}, quitting`);
      model.kill('SIGTERM');
    });
  model.once('exit', (code, sig) => {
    quitting = true;
    log(`switch model exited (${sig ?? code})`);
    process.exit(code ?? 1);
  });
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e)));
