// Which address the server container has on each server, and which address clients connect to.
// same-ip (the published experiment): the container is H2_IP/H2_MAC wherever it runs and clients
// connect to it directly. vip (the load balancer's own scenario, as the original P4ContainerFlow
// demonstrated it): clients connect to VIP:SIGNALING_PORT only; the switch's node_selector hashes
// onto the backend and client_snat gives the replies the VIP as source; the container is backend
// H2 on the first server and H3 on the second (vip mode runs on two), so every migration changes its IP and MAC.
import type { Config } from '../config/keys.ts';
import type { ServerName } from './net.ts';

export interface Backend {
  ip: string;
  mac: string;
  key: 'H2' | 'H3';
}

type ModeKeys = Pick<Config, 'MIGRATION_MODE' | 'H2_IP' | 'H2_MAC' | 'H3_IP' | 'H3_MAC' | 'SERVERS'>;

/** The container's address on `server` (vip mode has two servers: H2 on the first, H3 on the second; load.ts). */
export function backendOn(c: ModeKeys, server: ServerName): Backend {
  if (c.MIGRATION_MODE === 'vip' && server === c.SERVERS[1]) return { ip: c.H3_IP, mac: c.H3_MAC.toLowerCase(), key: 'H3' };
  return { ip: c.H2_IP, mac: c.H2_MAC.toLowerCase(), key: 'H2' };
}

/** The address the load generator connects to (and health-gates through the data path). */
export const serviceIp = (c: Pick<Config, 'MIGRATION_MODE' | 'VIP' | 'H2_IP'>): string =>
  c.MIGRATION_MODE === 'vip' ? c.VIP : c.H2_IP;

export const isVip = (c: Pick<Config, 'MIGRATION_MODE'>): boolean => c.MIGRATION_MODE === 'vip';

export interface ExtraBackend {
  k: number;
  name: string;
  server: ServerName;
  ip: string;
  mac: string;
}

/** Host number `n` of the container subnet (HW_SUBNET's network address + n). */
export function subnetHost(cidr: string, n: number): string {
  const [net] = cidr.split('/');
  const v = net.split('.').reduce((a, x) => a * 256 + Number(x), 0) + n;
  return [24, 16, 8, 0].map((sh) => Math.floor(v / 2 ** sh) % 256).join('.');
}

/** The MAC of an address by the H2/H3 convention: 02:42 and the four address bytes. */
export const macOf = (ip: string): string =>
  ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');

/** Backends 2..BACKENDS (backend 1 is the migrated server container). */
export function extraBackends(c: Pick<Config, 'BACKENDS' | 'HW_SUBNET' | 'SERVER_CONTAINER' | 'SERVERS'>): ExtraBackend[] {
  const out: ExtraBackend[] = [];
  for (let k = 2; k <= c.BACKENDS; k++) {
    const ip = subnetHost(c.HW_SUBNET, 20 + k);
    out.push({ k, name: `${c.SERVER_CONTAINER}-b${k}`, server: c.SERVERS[k % 2 === 0 ? 1 : 0], ip, mac: macOf(ip) });
  }
  return out;
}
