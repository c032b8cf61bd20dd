// `testbed.ts up --emulate-hw`: the local testbed dressed as the lab, for a hardware-mode rehearsal.
// Only what needs the Tofino ASIC is stood in for; podman, CRIU, sshd, the controller and the
// workload stay the real ones:
//   - a non-root login user `<prefix>lab` with passwordless sudo (sudoers drop-in); the hosts' sshd
//     refuses root logins (sshd.ts, permitRootLogin no)
//   - an SDE tree laid out like an open-p4studio install under /opt/<prefix>lab/open-p4studio, whose
//     bin/bf_switchd and bin/bf-p4c are the stand-ins of emulated-sde/ (bundled); hw/compile-p4.ts
//     is run once with that compiler, as a lab admin would, so the conf's artifacts exist
//   - DMA memory: real hugepages (vm.nr_hugepages raised to HUGEPAGES if lower; restored by `down`)
//   - the device node: /opt/<prefix>lab/dev/bf0, a root-only character device (1:3, the null
//     device's numbers) named in the emulated SDE's board.json; bf_switchd locks it while it runs
//   - the hardware overlay <stateDir>/config_hw.env: every key of config_hw.env.example, with this
//     testbed's values where the lab's would not fit (SSH targets, NICs, SDE, dirs)
// `down` removes all of it. Nothing lands outside the names above.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as dotenvParse } from 'dotenv';
import { programForArch } from '../../../p4/assets.ts';
import { bundleRemote } from '../../hosts/bundle.ts';
import { KEYS, type Config, type ServerValues } from '../../config/keys.ts';
import { TestbedError, type TestbedLayout } from './layout.ts';
import { run } from '../../hosts/run-local.ts';
import { processesNaming, stopPids } from './procs.ts';

/** run_switchd.sh reserves 128 2-MiB pages for switchd's DMA pools; the stand-in asks for as many. */
export const HUGEPAGES = 128;
const MARKER = 'p4cf emulated lab (testbed.ts up --emulate-hw)';
const HERE = dirname(fileURLToPath(import.meta.url));

export interface HwEmulation {
  user: string;
  home: string;
  sudoers: string;
  labRoot: string;
  sde: string;
  sdeInstall: string;
  device: string;
  overlay: string;
  /** What `up` changed that `down` must restore (hugepages before). */
  record: string;
}

export function hwEmulationLayout(L: Pick<TestbedLayout, 'prefix' | 'stateDir'>): HwEmulation {
  const user = `${L.prefix}lab`;
  const labRoot = `/opt/${L.prefix}lab`;
  const sde = join(labRoot, 'open-p4studio');
  return {
    user,
    home: `/home/${user}`,
    sudoers: `/etc/sudoers.d/${user}`,
    labRoot,
    sde,
    sdeInstall: join(sde, 'install'),
    device: join(labRoot, 'dev', 'bf0'),
    overlay: join(L.stateDir, 'config_hw.env'),
    record: join(L.stateDir, `${L.prefix}hw-emulation.json`),
  };
}

export const hwEmulationPresent = (L: Pick<TestbedLayout, 'prefix' | 'stateDir'>): boolean =>
  existsSync(hwEmulationLayout(L).record);

// the emulated lab is the published two-server one: it writes the keys of lakewood and loveland
type EmulationConfig = Pick<Config, 'ARCH' | 'TESTBED_PREFIX' | 'MGMT_SUBNET' | 'SSH_KEY' | 'SSH_KNOWN_HOSTS'> & ServerValues;

/**
 * The overlay text: the keys of config_hw.env.example in its order, each with the example's value
 * unless the emulated lab needs its own, so a dry run of both differs only in values.
 */
export function overlayText(
  exampleText: string,
  config: EmulationConfig,
  L: Pick<TestbedLayout, 'hosts' | 'prefix' | 'stateDir'>,
): string {
  const E = hwEmulationLayout(L);
  const ssh = (name: string): string => {
    const h = L.hosts.find((x) => x.name === name)!;
    return `${E.user}@${h.mgmtIp}:${h.ssh.port}`;
  };
  const ours: Record<string, string> = {
    TESTBED: 'hw',
    ARCH: config.ARCH,
    TOFINO_SSH: ssh('tofino'),
    LAKEWOOD_SSH: ssh('lakewood'),
    LOVELAND_SSH: ssh('loveland'),
    SSH_KEY: config.SSH_KEY,
    SSH_KNOWN_HOSTS: config.SSH_KNOWN_HOSTS,
    REMOTE_PROJECT_DIR: `${E.home}/p4cf/{host}`,
    CHECKPOINT_DIR: `${E.home}/p4cf/{host}/checkpoints`,
    LAKEWOOD_NIC: config.LAKEWOOD_NIC,
    LOVELAND_NIC: config.LOVELAND_NIC,
    LAKEWOOD_DIRECT_IF: config.LAKEWOOD_DIRECT_IF,
    LOVELAND_DIRECT_IF: config.LOVELAND_DIRECT_IF,
    LAKEWOOD_DIRECT_IP: config.LAKEWOOD_DIRECT_IP,
    LOVELAND_DIRECT_IP: config.LOVELAND_DIRECT_IP,
    LAKEWOOD_SW_PORT: String(config.LAKEWOOD_SW_PORT),
    LOVELAND_SW_PORT: String(config.LOVELAND_SW_PORT),
    SDE: E.sde,
    SDE_INSTALL: E.sdeInstall,
  };
  // keys the example leaves at their default, but whose lab default does not fit the emulated lab
  const extra: Record<string, string> = { SWITCHD_DEVICE: E.device };
  const example = dotenvParse(exampleText);
  const appended = Object.entries(extra).filter(([k]) => k in KEYS && !(k in example));
  const lines = [
    `# Hardware overlay for the emulated lab, written by \`npx tsx experiments/testbed.ts up --emulate-hw\``,
    `# and removed by \`down\`. Run with: npx tsx experiments/run.ts --config ${relative(process.cwd(), E.overlay) || E.overlay}`,
    '# Keys and order follow config_hw.env.example; values differ only where the emulated lab differs',
    `# (SSH as ${E.user}, the testbed's NICs, the emulated SDE under ${E.labRoot}, dirs in ${E.home}).`,
    ...Object.entries(example).map(([k, v]) => `${k}=${ours[k] ?? extra[k] ?? v}`),
    ...(appended.length
      ? ['# the emulated device node (the lab default is /dev/bf0)', ...appended.map(([k, v]) => `${k}=${v}`)]
      : []),
    '# the local testbed these hosts live on (for `testbed.ts status|down --config` with this file)',
    `TESTBED_PREFIX=${config.TESTBED_PREFIX}`,
    `MGMT_SUBNET=${config.MGMT_SUBNET}`,
  ];
  return `${lines.join('\n')}\n`;
}

const meminfoHugepages = (): number => Number(/^HugePages_Total:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);

async function userEntry(user: string): Promise<{ uid: number; gecos: string } | undefined> {
  const r = await run(['getent', 'passwd', user], { allowFail: true });
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(':');
  return { uid: Number(f[2]), gecos: f[4] ?? '' };
}

/** Where rootless podman (run by the lab user before sudo is in place) keeps state outside the home. */
export const rootlessPodmanDirs = (uid: number): string[] => [
  `/tmp/containers-user-${uid}`,
  `/tmp/podman-run-${uid}`,
  `/run/user/${uid}`,
];

async function ensureUser(E: HwEmulation, pubKey: string, log: (m: string) => void): Promise<void> {
  const gecos = (await userEntry(E.user))?.gecos;
  if (gecos === undefined) {
    await run([
      'useradd',
      '--create-home',
      '--home-dir',
      E.home,
      '--shell',
      '/bin/bash',
      '--user-group',
      '--comment',
      MARKER,
      E.user,
    ]);
    log(`created user ${E.user} (home ${E.home})`);
  } else if (gecos !== MARKER) {
    throw new TestbedError(
      `user ${E.user} exists but was not created by up --emulate-hw (GECOS ${JSON.stringify(gecos)}): remove it or choose another TESTBED_PREFIX`,
    );
  }
  // "*": no password, but not locked ("!"), so sshd without PAM accepts the key
  await run(['usermod', '--password', '*', E.user]);
  const dotSsh = join(E.home, '.ssh');
  mkdirSync(dotSsh, { recursive: true, mode: 0o700 });
  writeFileSync(join(dotSsh, 'authorized_keys'), pubKey, { mode: 0o600 });
  await run(['chown', '-R', `${E.user}:${E.user}`, dotSsh]);
  const line = `${E.user} ALL=(ALL:ALL) NOPASSWD: ALL\n`;
  const tmp = `${E.sudoers}.p4cf-tmp`;
  mkdirSync(dirname(E.sudoers), { recursive: true });
  writeFileSync(tmp, `# ${MARKER}\n${line}`, { mode: 0o440 });
  const check = await run(['visudo', '-cf', tmp], { allowFail: true });
  if (check.code !== 0) {
    rmSync(tmp, { force: true });
    throw new TestbedError(`visudo refused the drop-in for ${E.user}: ${check.stderr.trim() || check.stdout.trim()}`);
  }
  await run(['mv', '-f', tmp, E.sudoers]);
}

async function bundleTool(src: string, out: string): Promise<void> {
  // loaded here, not at the top: status and down of a plain testbed need neither esbuild nor zx
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(HERE, 'emulated-sde', src)],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  });
}

async function ensureSde(
  E: HwEmulation,
  config: EmulationConfig,
  _L: Pick<TestbedLayout, 'prefix'>,
  projectDir: string,
  switchPorts: TestbedLayout['switchPorts'],
  log: (m: string) => void,
): Promise<void> {
  const bin = join(E.sdeInstall, 'bin');
  const tools = join(E.sdeInstall, 'lib', 'p4cf-emulation');
  for (const d of [
    bin,
    tools,
    join(E.sdeInstall, 'share', 'p4cf-emulation'),
    join(E.sdeInstall, 'share', 'tofino_sds_fw', 'avago', 'firmware'),
    dirname(E.device),
  ])
    mkdirSync(d, { recursive: true });
  writeFileSync(join(E.labRoot, '.p4cf-emulated-lab'), `${MARKER}\n`);
  writeFileSync(
    join(E.sde, 'README.p4cf'),
    `${MARKER}: an SDE tree laid out like open-p4studio's install; bin/bf_switchd and bin/bf-p4c are stand-ins (lib/modes/local/emulated-sde/).\n`,
  );
  const dist = await bundleRemote(projectDir, { require: ['switch-model.mjs'], log });
  for (const f of readdirSync(dist).filter(
    (n) => n === 'switch-model.mjs' || n === 'bfruntime.proto' || n.endsWith('.bf-rt.json'),
  ))
    copyFileSync(join(dist, f), join(tools, f));
  await bundleTool('bf-switchd.ts', join(tools, 'bf_switchd.mjs'));
  await bundleTool('bf-p4c.ts', join(tools, 'bf-p4c.mjs'));
  const p4 = join(projectDir, 'p4');
  const sources = [
    join(p4, 'load_balancer.p4'),
    ...readdirSync(join(p4, 'common'))
      .filter((n) => n.endsWith('.p4'))
      .map((n) => join(p4, 'common', n)),
  ];
  writeFileSync(
    join(tools, 'accepted-sources.sha256'),
    sources.map((s) => `${createHash('sha256').update(readFileSync(s)).digest('hex')}  ${relative(projectDir, s)}`).join('\n') +
      '\n',
  );
  // bf_switchd runs node through a link named bf_switchd: the kernel takes the process name (comm)
  // from the executed file's name, so `pgrep -x bf_switchd` finds it as it finds the real one,
  // and its command line keeps the arguments (--conf-file naming the program)
  const nodeAs = join(tools, 'bf_switchd');
  rmSync(nodeAs, { force: true });
  symlinkSync(process.execPath, nodeAs);
  for (const [name, exe, mjs] of [
    ['bf_switchd', nodeAs, 'bf_switchd.mjs'],
    ['bf-p4c', process.execPath, 'bf-p4c.mjs'],
  ]) {
    writeFileSync(
      join(bin, name),
      `#!/bin/sh\n# ${MARKER}: stand-in, see lib/modes/local/emulated-sde/\nexec ${exe} ${join(tools, mjs)} "$@"\n`,
    );
    chmodSync(join(bin, name), 0o755);
  }
  writeFileSync(
    join(E.sdeInstall, 'lib', 'libpltfm_mgr.so'),
    `${MARKER}: platform manager placeholder (named by the conf's agent0)\n`,
  );
  const board = {
    chipFamily: config.ARCH === 'tf2' ? 'tofino2' : 'tofino',
    device: E.device,
    hugepages: HUGEPAGES,
    modelDir: tools,
    ports: Object.fromEntries(switchPorts.map((p) => [String(p.devPort), p.swIf])),
  };
  writeFileSync(join(E.sdeInstall, 'share', 'p4cf-emulation', 'board.json'), `${JSON.stringify(board, null, 2)}\n`);
  if (!existsSync(E.device)) await run(['mknod', '-m', '600', E.device, 'c', '1', '3']);
  // what a lab admin does once on the switch: compile with the SDE's compiler into the conf's paths
  const program = programForArch(config.ARCH);
  const { compileP4 } = await import('../../../hw/compile-p4.ts');
  await compileP4({
    arch: config.ARCH,
    sdeInstall: E.sdeInstall,
    conf: join(p4, 'conf', `${program}.conf`),
    log: (m) => log(`compile-p4: ${m}`),
  });
  log(`emulated SDE ${E.sde} (bf_switchd and bf-p4c stand-ins, ${program} compiled), device ${E.device}`);
}

async function ensureHugepages(log: (m: string) => void): Promise<number | undefined> {
  const before = Number(readFileSync('/proc/sys/vm/nr_hugepages', 'utf8').trim());
  if (meminfoHugepages() >= HUGEPAGES) return undefined;
  writeFileSync('/proc/sys/vm/nr_hugepages', String(HUGEPAGES));
  const now = meminfoHugepages();
  if (now < HUGEPAGES) {
    writeFileSync('/proc/sys/vm/nr_hugepages', String(before));
    throw new TestbedError(
      `could reserve only ${now} of ${HUGEPAGES} hugepages (vm.nr_hugepages; memory too fragmented?): the emulated bf_switchd needs them as the real one does`,
    );
  }
  log(`reserved ${HUGEPAGES} hugepages (vm.nr_hugepages was ${before}; down restores it)`);
  return before;
}

/** Dress the testbed as the lab (idempotent); returns the overlay's path. */
export async function emulateHwUp(
  config: EmulationConfig,
  L: TestbedLayout,
  projectDir: string,
  log: (m: string) => void,
): Promise<string> {
  const E = hwEmulationLayout(L);
  const prev = existsSync(E.record) ? (JSON.parse(readFileSync(E.record, 'utf8')) as { hugepagesBefore?: number }) : {};
  const pub = readFileSync(`${L.sshKey}.pub`, 'utf8');
  await ensureUser(E, pub, log);
  const before = await ensureHugepages(log);
  writeFileSync(E.record, `${JSON.stringify({ ...E, hugepagesBefore: prev.hugepagesBefore ?? before }, null, 2)}\n`);
  await ensureSde(E, config, L, projectDir, L.switchPorts, log);
  writeFileSync(E.overlay, overlayText(readFileSync(join(projectDir, 'config_hw.env.example'), 'utf8'), config, L));
  log(`hardware overlay: ${E.overlay}`);
  return E.overlay;
}

/** Undo emulateHwUp: user (and home), sudoers drop-in, SDE tree and device, hugepages, overlay. */
export async function emulateHwDown(L: Pick<TestbedLayout, 'prefix' | 'stateDir'>, log: (m: string) => void): Promise<string[]> {
  const E = hwEmulationLayout(L);
  const removed: string[] = [];
  // the stand-ins (bf_switchd outlives runs, as on the lab) wherever they run: found by our SDE path, not by name
  const standIns = processesNaming(E.sdeInstall);
  if (standIns.length) {
    log(`stopping ${standIns.length} processes of the emulated SDE (PIDs ${standIns.join(', ')})`);
    await stopPids(standIns, 3_000);
    removed.push(...standIns.map((p) => `process ${p} of ${E.sdeInstall}`));
  }
  const rec = existsSync(E.record) ? (JSON.parse(readFileSync(E.record, 'utf8')) as { hugepagesBefore?: number }) : undefined;
  const entry = await userEntry(E.user);
  if (entry?.gecos === MARKER) {
    // the user's own processes (e.g. rootless podman's catatonit): the user is ours, so are they
    const ps = await run(['ps', '-o', 'pid=', '-u', E.user], { allowFail: true });
    const pids = ps.stdout
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 1);
    if (pids.length) {
      log(`stopping ${pids.length} processes of ${E.user}`);
      await stopPids(pids, 3_000);
    }
    await run(['userdel', '--remove', E.user], { allowFail: true }).then((r) => {
      if (r.code !== 0 && r.code !== 12)
        throw new TestbedError(`userdel --remove ${E.user} exited with code ${r.code}: ${r.stderr.trim()}`);
    });
    rmSync(E.home, { recursive: true, force: true }); // userdel exit 12: the home was not fully removed
    for (const d of rootlessPodmanDirs(entry.uid)) {
      const st = statSync(d, { throwIfNoEntry: false });
      if (st?.uid === entry.uid) {
        rmSync(d, { recursive: true, force: true });
        removed.push(`dir ${d}`);
      }
    }
    removed.push(`user ${E.user}`);
  }
  if (existsSync(E.sudoers) && readFileSync(E.sudoers, 'utf8').includes(MARKER)) {
    rmSync(E.sudoers);
    removed.push(`sudoers ${E.sudoers}`);
  }
  if (existsSync(join(E.labRoot, '.p4cf-emulated-lab'))) {
    rmSync(E.labRoot, { recursive: true, force: true });
    removed.push(`emulated SDE ${E.labRoot}`);
  }
  if (rec?.hugepagesBefore !== undefined) {
    writeFileSync('/proc/sys/vm/nr_hugepages', String(rec.hugepagesBefore));
    removed.push(`hugepages (vm.nr_hugepages back to ${rec.hugepagesBefore})`);
  }
  for (const f of [E.overlay, E.record])
    if (existsSync(f)) {
      rmSync(f);
      removed.push(`file ${f}`);
    }
  if (removed.length) log(`removed the lab emulation: ${removed.join(', ')}`);
  return removed;
}
