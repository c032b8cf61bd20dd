// What the local testbed needs on this machine: Debian packages, CRIU's version and source package,
// and the exact text of the config files prereqs writes.

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
