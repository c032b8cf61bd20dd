// Changing the machine: apt-get installs, the CRIU build from source, the CRIU config and podman drop-in.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../../hosts/run-local.ts';
import { tail } from '../../../run/text.ts';
import { compareVersions, decideCriu, manualInstructions, missingPackages, parseCriuVersion, planIsEmpty } from './decide.ts';
import {
  CRIU_BUILD_DEPS,
  CRIU_CONF,
  CRIU_INSTALL_DIR,
  CRIU_MIN_VERSION,
  CRIU_SOURCE_PACKAGE,
  CRIU_SOURCE_VERSION,
  DEBIAN_PACKAGES,
  PODMAN_DROPIN,
  PODMAN_DROPIN_TEXT,
  SID_SOURCES,
  SID_SOURCES_FILE,
} from './needs.ts';
import { planPrerequisites, platform, probeCriu } from './probe.ts';

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
