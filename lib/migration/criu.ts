// The CRIU settings a migration needs, applied per container rather than through the host's
// /etc/criu/default.conf: the server container is created with the OCI annotation
// org.criu.config naming a p4cf-owned CRIU config file, which runc (and crun) hand to CRIU on
// every checkpoint and restore of that container (podman 4.3.1 has no per-call CRIU flags). The
// annotation travels inside the exported checkpoint, so the restored container carries it too.
// Each migration writes the file on both servers before it is needed and reads CRIU's logs to
// record whether CRIU really parsed it.
import { quote } from '../hosts/quote.ts';

/** Same path on every server: the annotation is fixed at `podman run` and moves with the container. */
export const CRIU_CONFIG_PATH = '/etc/criu/p4cf-migration.conf';

/**
 * tcp-established: the server's connections survive (podman passes it too, this keeps it explicit).
 * skip-in-flight: a dump proceeds past half-open connections instead of failing.
 * network-lock nftables: CRIU locks the container's network with nftables while it dumps and
 * restores (iptables-based locking is not usable on the machines this was verified on).
 */
export const CRIU_SETTINGS: Readonly<Record<string, string>> = {
  'tcp-established': '',
  'skip-in-flight': '',
  'network-lock': 'nftables',
};

const configLines = (): string[] => [
  '# written by p4cf (lib/migration/criu.ts) for its server container only',
  ...Object.entries(CRIU_SETTINGS).map(([k, v]) => (v ? `${k} ${v}` : k)),
];

/** One line summarising what is applied, for the timing JSON and the log. */
export const criuSettingsSummary = (): string =>
  Object.entries(CRIU_SETTINGS)
    .map(([k, v]) => (v ? `${k}=${v}` : k))
    .join(' ');

/** `podman run` arguments that make every checkpoint/restore of the container read the file. */
export const criuRunArgs = (): string[] => ['--annotation', `org.criu.config=${CRIU_CONFIG_PATH}`];

/**
 * Writes the config file (idempotent; a few hundred bytes, ~1 ms). `extra`: settings for the next
 * CRIU call only (the lazy engine's restore adds `lazy-pages`; runc lets the file override its own options).
 */
export function writeCriuConfigCmd(extra: string[] = []): string {
  return `mkdir -p /etc/criu && printf '%s\\n' ${[...configLines(), ...extra].map(quote).join(' ')} > ${CRIU_CONFIG_PATH}`;
}

/** Evidence in a CRIU log (dump.log / restore.log) that CRIU parsed our file. */
export type CriuConfigEvidence = 'parsed' | 'not-parsed' | 'no-log';
const EVIDENCE = 'criu-config';

/** Prints `criu-config parsed|not-parsed|no-log` for the CRIU log at `logPath` (a shell word). */
export function criuEvidenceCmd(logPath: string): string {
  return (
    `if [ ! -r ${logPath} ]; then echo "${EVIDENCE} no-log"; ` +
    `elif grep -qF ${quote(`Parsing config file ${CRIU_CONFIG_PATH}`)} ${logPath}; then echo "${EVIDENCE} parsed"; ` +
    `else echo "${EVIDENCE} not-parsed"; fi`
  );
}

export function parseCriuEvidence(stdout: string): CriuConfigEvidence {
  const m = stdout.match(new RegExp(`^${EVIDENCE} (parsed|not-parsed|no-log)$`, 'm'));
  return (m?.[1] as CriuConfigEvidence | undefined) ?? 'no-log';
}

/** Where podman keeps a container's CRIU logs (default storage root; absent elsewhere → no-log). */
export const userdataDir = (idExpr: string): string => `/var/lib/containers/storage/overlay-containers/${idExpr}/userdata`;
