// Machine prerequisites of the local testbed: Debian packages, CRIU >= 4.2 (built from Debian sid's
// source package, since bookworm's 3.17 cannot run on new kernels), CRIU's network-lock settings and
// podman's runtime/rlimit drop-in. Idempotent: every step checks first and only changes what is missing.
// Facts behind each choice: /work/shared/reference/this-machine.md (mirrored in the comments below).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../hosts/run-local.ts';
import { tail } from '../../run/text.ts';

// ---------------------------------------------------------------------------------------------
// what is needed

export interface PackageNeed {
  pkg: string;
  why: string;
}

export const DEBIAN_PACKAGES: readonly PackageNeed[] = [
  { pkg: 'podman', why: 'runs the server container' },
  { pkg: 'runc', why: 'OCI runtime podman must use here (crun fails: hybrid cgroups)' },
  { pkg: 'conmon', why: 'podman container monitor' },
  { pkg: 'netavark', why: 'podman network backend (macvlan networks)' },
  { pkg: 'nftables', why: 'switch model data plane and CRIU network lock' },
  { pkg: 'openssh-server', why: 'sshd inside each testbed namespace' },
  { pkg: 'openssh-client', why: 'ssh-keygen and ssh for the testbed keys' },
  { pkg: 'iproute2', why: 'namespaces, veth links, routes' },
  { pkg: 'iputils-ping', why: 'reachability checks' },
  { pkg: 'iputils-arping', why: 'gratuitous ARP after a restore (the migration warns when it is missing)' },
  { pkg: 'socat', why: 'checkpoint transfer' },
  { pkg: 'ethtool', why: 'NIC offload tuning' },
  { pkg: 'iptables', why: 'RST drop rule on the server NICs' },
  { pkg: 'sudo', why: 'the non-root login path (SUDO=auto) and its test' },
  { pkg: 'iperf3', why: 'link benchmarks' },
  { pkg: 'redis-server', why: 'WORKLOAD=redis: its binary goes into the redis server image (the system service is not used)' },
  { pkg: 'util-linux', why: 'nsenter (sshd and podman in a namespace without remounting /sys)' },
  { pkg: 'procps', why: 'sysctl, pgrep' },
  { pkg: 'xz-utils', why: 'unpacks the CRIU source tarball' },
  { pkg: 'git', why: 'records the commit of each run' },
  { pkg: 'chromium', why: 'renders the report in tests' },
];

/** Build dependencies of CRIU 4.2.1, all from bookworm. */
export const CRIU_BUILD_DEPS: readonly string[] = [
  'build-essential',
  'pkg-config',
  'libprotobuf-dev',
  'libprotobuf-c-dev',
  'protobuf-c-compiler',
  'protobuf-compiler',
  'python3-protobuf',
  'libnl-3-dev',
  'libnl-route-3-dev',
  'libnet1-dev',
  'libcap-dev',
  'libbsd-dev',
  'libgnutls28-dev',
  'libnftables-dev',
  'uuid-dev',
];

/** 4.1.1 passes `criu check` but cannot dump TCP sockets on this kernel; the fix landed in 4.2. */
export const CRIU_MIN_VERSION = '4.2';
export const CRIU_SOURCE_VERSION = '4.2.1';
export const CRIU_SOURCE_PACKAGE = `criu=${CRIU_SOURCE_VERSION}-1`;
export const CRIU_INSTALL_DIR = '/usr/local/sbin';

export const SID_SOURCES_FILE = '/etc/apt/sources.list.d/p4cf-sid-src.sources';
// deb-src only: bookworm keeps supplying every binary package; sid only supplies CRIU's source.
export const SID_SOURCES = [
  'Types: deb-src',
  'URIs: http://deb.debian.org/debian',
  'Suites: sid',
  'Components: main',
  'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
  '',
].join('\n');

export const CRIU_CONF = '/etc/criu/default.conf';
// iptables locking is not usable here; skip-in-flight lets a dump proceed past half-open connections.
export const CRIU_CONF_SETTINGS: Readonly<Record<string, string>> = { 'network-lock': 'nftables', 'skip-in-flight': '' };

export const PODMAN_DROPIN = '/etc/containers/containers.conf.d/p4cf.conf';
// podman 4.3.1 merges containers.conf.d drop-ins (verified: `podman --log-level=debug info` prints
// "Merged system config .../p4cf.conf"), so the distribution's containers.conf stays untouched.
export const PODMAN_DROPIN_TEXT = [
  '# Written by p4cf (lib/modes/local/prereqs.ts).',
  '# crun 1.8.1 fails on this kernel ("cgroups in hybrid mode not supported"); runc works and runs',
  '# the criu found in PATH. The sandbox lacks CAP_SYS_RESOURCE, so containers cannot raise rlimits',
  "# to podman's defaults: ask for lower ones.",
  '[engine]',
  'runtime = "runc"',
  '',
  '[containers]',
  'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]',
  '',
].join('\n');

// ---------------------------------------------------------------------------------------------
// pure decisions (unit-tested)

/** Compare dotted versions numerically: -1, 0 or 1. Missing components count as 0 ("4.2" == "4.2.0"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The version in `criu --version` output ("Version: 4.2.1"), or undefined. */
export function parseCriuVersion(out: string): string | undefined {
  return /^Version:\s*(\d+(?:\.\d+)*)/m.exec(out)?.[1];
}

export interface CriuProbe {
  /** Version reported by the criu in PATH, undefined when none runs. */
  version?: string;
  /** Absolute path of the criu in PATH. */
  path?: string;
  /** `criu check` passed (undefined when not run). */
  checkOk?: boolean;
  checkOutput?: string;
}

export type CriuDecision =
  | { action: 'ok'; reason: string }
  | { action: 'build'; reason: string }
  | { action: 'fail'; reason: string };

/** Decide whether CRIU must be built. A failing check of our own freshly built CRIU is not fixed by rebuilding. */
export function decideCriu(p: CriuProbe, installDir = CRIU_INSTALL_DIR): CriuDecision {
  if (!p.version) return { action: 'build', reason: 'criu is not installed' };
  if (compareVersions(p.version, CRIU_MIN_VERSION) < 0) {
    return {
      action: 'build',
      reason: `criu ${p.version} at ${p.path ?? '?'} is older than ${CRIU_MIN_VERSION} (cannot dump TCP sockets on this kernel)`,
    };
  }
  if (p.checkOk === false) {
    const ours = p.path === join(installDir, 'criu') && compareVersions(p.version, CRIU_SOURCE_VERSION) >= 0;
    if (ours)
      return { action: 'fail', reason: `criu ${p.version} at ${p.path} fails \`criu check\`: ${tail(p.checkOutput ?? '', 5)}` };
    return { action: 'build', reason: `criu ${p.version} at ${p.path ?? '?'} fails \`criu check\`` };
  }
  return { action: 'ok', reason: `criu ${p.version} at ${p.path ?? '?'}${p.checkOk ? ', check passed' : ''}` };
}

/** Packages from `wanted` that dpkg-query output (`${Package} ${db:Status-Status}` lines) does not show installed. */
export function missingPackages(dpkgOutput: string, wanted: readonly string[]): string[] {
  const installed = new Set(
    dpkgOutput
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1] === 'installed')
      .map((f) => f[0].replace(/:.*$/, '')),
  );
  return wanted.filter((p) => !installed.has(p));
}

/**
 * CRIU config text with our settings merged in: a conflicting value of the same option is replaced,
 * every other line (comments, other options) is kept. Returns the same text when nothing changes.
 */
export function mergeCriuConf(existing: string, settings: Readonly<Record<string, string>> = CRIU_CONF_SETTINGS): string {
  const lines = existing === '' ? [] : existing.replace(/\n$/, '').split('\n');
  const want = (k: string): string => (settings[k] ? `${k} ${settings[k]}` : k);
  const seen = new Set<string>();
  const out = lines.map((line) => {
    const key = /^\s*--?([\w-]+)/.exec(line)?.[1] ?? /^\s*([\w-]+)/.exec(line)?.[1];
    if (key && key in settings && !line.trimStart().startsWith('#')) {
      seen.add(key);
      return want(key);
    }
    return line;
  });
  for (const k of Object.keys(settings)) if (!seen.has(k)) out.push(want(k));
  const text = `${out.join('\n')}\n`;
  return text === existing ? existing : text;
}

export interface Platform {
  root: boolean;
  debianLike: boolean;
  osName: string;
}

/** Debian-like if /etc/os-release says ID=debian or ID_LIKE contains debian. */
export function parseOsRelease(text: string): { debianLike: boolean; osName: string } {
  const get = (k: string): string => (new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1] ?? '').replace(/^"|"$/g, '');
  const ids = [get('ID'), ...get('ID_LIKE').split(/\s+/)];
  return { debianLike: ids.includes('debian'), osName: get('PRETTY_NAME') || get('ID') || 'unknown OS' };
}

export function platform(): Platform {
  const os = existsSync('/etc/os-release')
    ? parseOsRelease(readFileSync('/etc/os-release', 'utf8'))
    : { debianLike: false, osName: 'unknown OS' };
  return { root: process.getuid?.() === 0, ...os };
}

// ---------------------------------------------------------------------------------------------
// probing (read-only)

export interface PrereqPlan {
  missingPackages: string[];
  criu: CriuDecision & { probe: CriuProbe };
  criuConf: { path: string; current: string; wanted: string } | undefined;
  podmanDropIn: boolean;
}

async function probeCriu(runCheck: boolean): Promise<CriuProbe> {
  const which = await run(['sh', '-c', 'command -v criu'], { allowFail: true });
  const path = which.code === 0 ? which.stdout.trim() : undefined;
  if (!path) return {};
  const v = await run([path, '--version'], { allowFail: true, timeoutMs: 10_000 });
  const version = v.code === 0 ? parseCriuVersion(v.stdout) : undefined;
  if (!version || !runCheck) return { path, version };
  const c = await run([path, 'check'], { allowFail: true, timeoutMs: 30_000 });
  return { path, version, checkOk: c.code === 0, checkOutput: c.stdout + c.stderr };
}

/** Find out what is missing without changing anything. `criu check` needs root, so it only runs as root. */
export async function planPrerequisites(): Promise<PrereqPlan> {
  const pkgs = DEBIAN_PACKAGES.map((p) => p.pkg);
  const hasDpkg = (await run(['sh', '-c', 'command -v dpkg-query'], { allowFail: true })).code === 0;
  const dq = hasDpkg
    ? await run(['dpkg-query', '-W', '-f=${Package} ${db:Status-Status}\\n', ...pkgs], { allowFail: true })
    : { stdout: '' };
  const probe = await probeCriu(process.getuid?.() === 0);
  const current = existsSync(CRIU_CONF) ? readFileSync(CRIU_CONF, 'utf8') : '';
  const wanted = mergeCriuConf(current);
  const dropIn = existsSync(PODMAN_DROPIN) ? readFileSync(PODMAN_DROPIN, 'utf8') : '';
  return {
    missingPackages: missingPackages(dq.stdout, pkgs),
    criu: { ...decideCriu(probe), probe },
    criuConf: wanted === current ? undefined : { path: CRIU_CONF, current, wanted },
    podmanDropIn: dropIn !== PODMAN_DROPIN_TEXT,
  };
}

export const planIsEmpty = (p: PrereqPlan): boolean =>
  p.missingPackages.length === 0 && p.criu.action === 'ok' && !p.criuConf && !p.podmanDropIn;

/** Instructions for doing the plan by hand (non-root or non-Debian machines). */
export function manualInstructions(p: PrereqPlan): string {
  const out: string[] = ['Install these by hand (as root, on Debian 12 or similar):'];
  if (p.missingPackages.length) out.push(`  apt-get update && apt-get install -y ${p.missingPackages.join(' ')}`);
  if (p.criu.action !== 'ok') {
    out.push(
      `  CRIU >= ${CRIU_MIN_VERSION} (${p.criu.reason}): build ${CRIU_SOURCE_VERSION} from Debian sid's source package:`,
      `    printf '${SID_SOURCES.trim().replace(/\n/g, '\\n')}\\n' > ${SID_SOURCES_FILE}`,
      `    apt-get update && apt-get install -y ${CRIU_BUILD_DEPS.join(' ')}`,
      `    cd $(mktemp -d) && apt-get source --download-only ${CRIU_SOURCE_PACKAGE}   # a 404 for the .debian.tar.xz is fine`,
      `    tar xf criu_${CRIU_SOURCE_VERSION}.orig.tar.xz && cd criu-${CRIU_SOURCE_VERSION} && make -j2 criu`,
      `    install -m 0755 criu/criu ${CRIU_INSTALL_DIR}/criu && criu check`,
    );
  }
  if (p.criuConf) out.push(`  ${CRIU_CONF} must contain: network-lock nftables, skip-in-flight`);
  if (p.podmanDropIn)
    out.push(
      `  ${PODMAN_DROPIN}:`,
      ...PODMAN_DROPIN_TEXT.trim()
        .split('\n')
        .map((l) => `    ${l}`),
    );
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// changing the machine

export interface PrereqOptions {
  log?: (msg: string) => void;
  /** Build CRIU even when a good one is present (to exercise the build path). */
  forceCriuBuild?: boolean;
  /** Where the built criu goes; default /usr/local/sbin (before /usr/sbin in PATH, found by runc). */
  criuInstallDir?: string;
}

export class PrereqError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrereqError';
  }
}

interface AptState {
  updated: boolean;
}

async function aptUpdate(state: AptState, log: (m: string) => void): Promise<void> {
  if (state.updated) return;
  log('apt-get update');
  await run(['apt-get', 'update'], { timeoutMs: 600_000, env: { DEBIAN_FRONTEND: 'noninteractive' } });
  state.updated = true;
}

async function aptInstall(pkgs: string[], state: AptState, log: (m: string) => void): Promise<void> {
  if (!pkgs.length) return;
  await aptUpdate(state, log);
  log(`apt-get install -y ${pkgs.join(' ')}`);
  await run(['apt-get', 'install', '-y', ...pkgs], {
    timeoutMs: 1_800_000,
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Build CRIU from Debian sid's source package and install it into `installDir`.
 * Exactly the procedure verified on this machine (this-machine.md). The build dir is removed afterwards.
 */
export async function buildCriu(opts: { log?: (m: string) => void; installDir?: string; apt?: AptState } = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  const installDir = opts.installDir ?? CRIU_INSTALL_DIR;
  const apt = opts.apt ?? { updated: false };
  const t0 = Date.now();
  const current = existsSync(SID_SOURCES_FILE) ? readFileSync(SID_SOURCES_FILE, 'utf8') : undefined;
  if (current !== SID_SOURCES) {
    log(`writing ${SID_SOURCES_FILE} (deb-src for sid, source packages only)`);
    writeFileSync(SID_SOURCES_FILE, SID_SOURCES);
    apt.updated = false;
  }
  const dq = await run(['dpkg-query', '-W', '-f=${Package} ${db:Status-Status}\\n', ...CRIU_BUILD_DEPS], { allowFail: true });
  const deps = missingPackages(dq.stdout, CRIU_BUILD_DEPS);
  if (deps.length) await aptInstall(deps, apt, log);
  else log('CRIU build dependencies present');
  await aptUpdate(apt, log); // the sid source index must be present for apt-get source
  const dir = mkdtempSync(join(tmpdir(), 'p4cf-criu-'));
  try {
    log(`apt-get source --download-only ${CRIU_SOURCE_PACKAGE} (in ${dir})`);
    const src = await run(['apt-get', 'source', '--download-only', CRIU_SOURCE_PACKAGE], {
      cwd: dir,
      allowFail: true,
      timeoutMs: 600_000,
    });
    const orig = `criu_${CRIU_SOURCE_VERSION}.orig.tar.xz`;
    if (!existsSync(join(dir, orig))) {
      throw new PrereqError(
        `apt-get source ${CRIU_SOURCE_PACKAGE} did not deliver ${orig} (exit ${src.code}): ${tail(src.stderr || src.stdout, 8)}`,
      );
    }
    if (src.code !== 0) log(`apt-get source exited ${src.code} but ${orig} arrived; the Debian packaging is not needed`);
    await run(['tar', 'xf', orig], { cwd: dir });
    const srcDir = readdirSync(dir)
      .map((n) => join(dir, n))
      .find((p) => /criu-\d/.test(p) && existsSync(join(p, 'Makefile')));
    if (!srcDir) throw new PrereqError(`unpacking ${orig} in ${dir} gave no criu-* source folder`);
    log(`make -j2 criu (in ${srcDir})`);
    await run(['make', '-j2', 'criu'], { cwd: srcDir, timeoutMs: 1_800_000 });
    mkdirSync(installDir, { recursive: true });
    const target = join(installDir, 'criu');
    await run(['install', '-m', '0755', join(srcDir, 'criu', 'criu'), target]);
    const v = parseCriuVersion((await run([target, '--version'])).stdout);
    if (!v || compareVersions(v, CRIU_MIN_VERSION) < 0)
      throw new PrereqError(`built ${target} reports version ${v ?? '?'}, expected >= ${CRIU_MIN_VERSION}`);
    log(`installed criu ${v} to ${target} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return target;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Make this machine ready for the local testbed. Prints each thing it installs or writes and
 * skips what is present. Not root or not Debian-like: changes nothing, throws PrereqError whose
 * message says exactly what to install by hand (unless nothing is missing).
 */
export async function ensurePrerequisites(opts: PrereqOptions = {}): Promise<{ changed: string[] }> {
  const log = opts.log ?? ((m: string) => console.log(`[prereqs] ${m}`));
  const t0 = Date.now();
  const plat = platform();
  const plan = await planPrerequisites();
  const forced = !!opts.forceCriuBuild;
  if (planIsEmpty(plan) && !forced) {
    log(
      `all present (${DEBIAN_PACKAGES.length} packages, ${plan.criu.reason}, ${CRIU_CONF}, ${PODMAN_DROPIN}) in ${Date.now() - t0} ms`,
    );
    return { changed: [] };
  }
  if (!plat.root || !plat.debianLike) {
    const why = !plat.root ? 'not running as root' : `${plat.osName} is not Debian-like`;
    throw new PrereqError(`cannot install prerequisites: ${why}; nothing was changed.\n${manualInstructions(plan)}`);
  }
  const changed: string[] = [];
  const apt: AptState = { updated: false };

  if (plan.missingPackages.length) {
    await aptInstall(plan.missingPackages, apt, log);
    changed.push(...plan.missingPackages.map((p) => `package ${p}`));
  } else log(`${DEBIAN_PACKAGES.length} Debian packages present`);

  if (plan.criu.action === 'fail') throw new PrereqError(plan.criu.reason);
  if (plan.criu.action === 'build' || forced) {
    log(forced ? 'building CRIU (forced)' : `building CRIU ${CRIU_SOURCE_VERSION}: ${plan.criu.reason}`);
    const path = await buildCriu({ log, installDir: opts.criuInstallDir, apt });
    changed.push(`criu at ${path}`);
    if (!opts.criuInstallDir || opts.criuInstallDir === CRIU_INSTALL_DIR) {
      const after = decideCriu(await probeCriu(true));
      if (after.action !== 'ok') throw new PrereqError(`after building CRIU: ${after.reason}`);
      log(after.reason);
    }
  } else log(plan.criu.reason);

  if (plan.criuConf) {
    mkdirSync(dirname(CRIU_CONF), { recursive: true });
    writeFileSync(CRIU_CONF, plan.criuConf.wanted);
    log(`${CRIU_CONF}: set network-lock nftables, skip-in-flight (other lines kept)`);
    changed.push(CRIU_CONF);
  }
  if (plan.podmanDropIn) {
    mkdirSync(dirname(PODMAN_DROPIN), { recursive: true });
    writeFileSync(PODMAN_DROPIN, PODMAN_DROPIN_TEXT);
    log(`wrote ${PODMAN_DROPIN} (runtime runc, lowered default ulimits)`);
    changed.push(PODMAN_DROPIN);
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; changed: ${changed.join(', ') || 'nothing'}`);
  return { changed };
}
