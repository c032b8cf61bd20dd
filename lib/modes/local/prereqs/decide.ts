// Pure decisions of the prerequisite check (unit-tested): version comparison, what is missing, the
// merged CRIU config, the plan's instructions for doing it by hand.
import { join } from 'node:path';
import { tail } from '../../../run/text.ts';
import {
  CRIU_BUILD_DEPS,
  CRIU_CONF,
  CRIU_CONF_SETTINGS,
  CRIU_INSTALL_DIR,
  CRIU_MIN_VERSION,
  CRIU_SOURCE_PACKAGE,
  CRIU_SOURCE_VERSION,
  PODMAN_DROPIN,
  PODMAN_DROPIN_TEXT,
  SID_SOURCES,
  SID_SOURCES_FILE,
} from './needs.ts';

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

/** Debian-like if /etc/os-release says ID=debian or ID_LIKE contains debian. */
export function parseOsRelease(text: string): { debianLike: boolean; osName: string } {
  const get = (k: string): string => (new RegExp(`^${k}=(.*)$`, 'm').exec(text)?.[1] ?? '').replace(/^"|"$/g, '');
  const ids = [get('ID'), ...get('ID_LIKE').split(/\s+/)];
  return { debianLike: ids.includes('debian'), osName: get('PRETTY_NAME') || get('ID') || 'unknown OS' };
}

export interface PrereqPlan {
  missingPackages: string[];
  criu: CriuDecision & { probe: CriuProbe };
  criuConf: { path: string; current: string; wanted: string } | undefined;
  podmanDropIn: boolean;
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
