// The local testbed's public face: the switch and the two servers as network namespaces on this
// machine, each with its own OpenSSH server, so every phase talks to them over SSH exactly as to
// real machines. The parts, one job each:
//   layout.ts   names and addresses of every piece, from the config (pure)
//   links.ts    iproute2 reads (namespaces, links)
//   sshd.ts     sshd config, keys, known_hosts, the sshd we started
//   up.ts / down.ts / status.ts   the three commands of experiments/testbed.ts
//   emulate-hw.ts   `up --emulate-hw`: the testbed dressed as the lab (non-root user, emulated SDE)
//   procs.ts    generic /proc and socket helpers
export { hostNamespace, mgmtAddresses, switchPortIfaces, testbedHosts, TestbedError, testbedLayout } from './layout.ts';
export type { TestbedConfig, TestbedHostName } from './layout.ts';
export { mergeKnownHosts } from './sshd.ts';
export { testbedUp } from './up.ts';
export { testbedDown } from './down.ts';
export { formatStatus, testbedStatus } from './status.ts';
