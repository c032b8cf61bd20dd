// Which address the server container has on each server, and which address clients connect to.
// same-ip (the published experiment): the container is H2_IP/H2_MAC wherever it runs and clients
// connect to it directly. vip (the load balancer's own scenario, as the original P4ContainerFlow
// demonstrated it): clients connect to VIP:SIGNALING_PORT only; the switch's node_selector hashes
// onto the backend and client_snat gives the replies the VIP as source; the container is backend
// H2 on lakewood and H3 on loveland, so every migration changes its IP and MAC.
import type { Config } from '../config/keys.ts';
import type { ServerName } from './net.ts';

export interface Backend { ip: string; mac: string; key: 'H2' | 'H3' }

type ModeKeys = Pick<Config, 'MIGRATION_MODE' | 'H2_IP' | 'H2_MAC' | 'H3_IP' | 'H3_MAC'>;

/** The container's address on `server`. */
export function backendOn(c: ModeKeys, server: ServerName): Backend {
  if (c.MIGRATION_MODE === 'vip' && server === 'loveland') return { ip: c.H3_IP, mac: c.H3_MAC.toLowerCase(), key: 'H3' };
  return { ip: c.H2_IP, mac: c.H2_MAC.toLowerCase(), key: 'H2' };
}

/** The address the load generator connects to (and health-gates through the data path). */
export const serviceIp = (c: Pick<Config, 'MIGRATION_MODE' | 'VIP' | 'H2_IP'>): string => (c.MIGRATION_MODE === 'vip' ? c.VIP : c.H2_IP);

export const isVip = (c: Pick<Config, 'MIGRATION_MODE'>): boolean => c.MIGRATION_MODE === 'vip';
