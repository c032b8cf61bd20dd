// Read-only probing of this machine: platform, the criu in PATH, installed packages, config files.
import { existsSync, readFileSync } from 'node:fs';
import { run } from '../../../hosts/run-local.ts';
import {
  type CriuProbe,
  decideCriu,
  mergeCriuConf,
  missingPackages,
  parseCriuVersion,
  parseOsRelease,
  type PrereqPlan,
} from './decide.ts';
import { CRIU_CONF, DEBIAN_PACKAGES, PODMAN_DROPIN, PODMAN_DROPIN_TEXT } from './needs.ts';

export interface Platform {
  root: boolean;
  debianLike: boolean;
  osName: string;
}

export function platform(): Platform {
  const os = existsSync('/etc/os-release')
    ? parseOsRelease(readFileSync('/etc/os-release', 'utf8'))
    : { debianLike: false, osName: 'unknown OS' };
  return { root: process.getuid?.() === 0, ...os };
}

export async function probeCriu(runCheck: boolean): Promise<CriuProbe> {
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
