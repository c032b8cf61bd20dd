// Builds the controller JSON from the p4cf configuration, so a run needs no hand-written
// controller_config.json (CONTROLLER_CONFIG empty).
import type { Config } from '../lib/config/keys.ts';
import { extraBackends } from '../lib/server/backend.ts';
import { homeServer, loadgenHost } from '../lib/migration/schedule.ts';
import { serverNode } from '../lib/server/net.ts';
import { programForArch } from '../p4/assets.ts';
import { parseControllerConfig, type ControllerConfig } from './config.ts';

/** The controller config JSON (plain object, validated) for a p4cf config. */
export function controllerConfigFromP4cf(config: Config): ControllerConfig {
  const port = (dev_port: number) => ({
    dev_port,
    speed: config.SWITCH_PORT_SPEED,
    fec: config.SWITCH_PORT_FEC,
    an: config.SWITCH_PORT_AN,
  });
  const port_of = (server: string) => serverNode(config, server).swPort;
  // every server's port (one per server: load.ts), in SERVERS order
  const ports = [...new Set(config.SERVERS.map(port_of))];
  const [first, second] = config.SERVERS;
  const raw = {
    id: 0,
    client_id: 0,
    name: programForArch(config.ARCH),
    addr: config.BFRT_GRPC_ADDR,
    load_balancer_ip: config.VIP,
    service_port: config.SIGNALING_PORT,
    port_setup: ports.map(port),
    nodes: [
      { ipv4: config.H2_IP, sw_port: port_of(homeServer(config)), dst_mac: config.H2_MAC, is_lb_node: true },
      // vip mode: the one server container is the only backend; H3 is where it goes (a forward
      // entry for /migrateNode to re-target the member to), not a second member that would take
      // the connections hashed onto it before anything runs there.
      {
        ipv4: config.H3_IP,
        sw_port: port_of(homeServer(config) === second ? first : second),
        dst_mac: config.H3_MAC,
        is_lb_node: config.MIGRATION_MODE !== 'vip',
      },
      // BACKENDS ≥ 2 (vip mode): the other containers behind the VIP, each a member.
      ...extraBackends(config).map((b) => ({
        ipv4: b.ip,
        sw_port: port_of(b.server),
        dst_mac: b.mac,
        is_lb_node: true,
      })),
      // The load generator's macvlan shim sits on LOADGEN_HOST's switch port.
      { ipv4: config.SHIM_IP, sw_port: port_of(loadgenHost(config)), dst_mac: config.SHIM_MAC, is_lb_node: false },
    ],
  };
  // Validate here so a bad p4cf value fails on the control machine, not on the switch.
  return parseControllerConfig(raw);
}
