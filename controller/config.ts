// The controller's JSON config, shaped like the original controller_config*.json
// (a single object, or the original's one-element array). Validation names the bad field.
import { readFileSync } from 'node:fs';
import { programForArch } from '../p4/assets.ts';
import { isIpv4, isMac } from './schema.ts';

export interface PortSetup {
  dev_port: number;
  speed: string;
  fec: string;
  an: string;
}

export interface NodeConfig {
  ipv4: string;
  sw_port: number;
  dst_mac?: string;
  is_lb_node: boolean;
}

export interface ControllerConfig {
  id: number;
  client_id: number;
  addr: string;
  program: string;
  load_balancer_ip: string;
  service_port: number;
  port_setup: PortSetup[];
  nodes: NodeConfig[];
}

export type Arch = 'tf1' | 'tf2';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const fail = (field: string, want: string, got: unknown): never => {
  throw new ConfigError(`controller config: ${field} must be ${want}, got ${JSON.stringify(got)}`);
};

function int(obj: Record<string, unknown>, field: string, path: string, min: number, max: number, dflt?: number): number {
  const v = obj[field] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(`${path}${field}`, `an integer ${min}..${max}`, v);
  return v as number;
}

function str(obj: Record<string, unknown>, field: string, path: string, re: RegExp, want: string, dflt?: string): string {
  const v = obj[field] ?? dflt;
  if (typeof v !== 'string' || !re.test(v)) fail(`${path}${field}`, want, v);
  return v as string;
}

export const MAX_SW_PORT = 511;
/** Members of the selector group (ActionSelector of load_balancer.p4, and its ActionProfile size). */
export const MAX_GROUP_SIZE = 4;

export interface ParseOpts {
  /** ARCH from the environment: used when the file names no program */
  arch?: Arch;
  /** an explicit choice (--arch on the command line): wins over the file */
  program?: string;
  /** --grpc: wins over the file's addr */
  addr?: string;
}

/**
 * Validate a parsed JSON config. The program is opts.program (--arch), else `program`/`name` in
 * the file, else from opts.arch (ARCH env), else the file's `arch`, else tf1.
 */
export function parseControllerConfig(raw: unknown, opts: ParseOpts = {}): ControllerConfig {
  let obj = raw;
  if (Array.isArray(obj)) {
    if (obj.length !== 1) fail('(top level)', 'an object or an array with exactly one switch', `array of ${obj.length}`);
    obj = obj[0];
  }
  if (!obj || typeof obj !== 'object') fail('(top level)', 'a JSON object', obj);
  const c = obj as Record<string, unknown>;

  const addr = opts.addr ?? str(c, 'addr', '', /^[^\s:]+:\d{1,5}$/, 'host:port of BF Runtime gRPC', '127.0.0.1:50052');
  if (opts.addr !== undefined && !/^[^\s:]+:\d{1,5}$/.test(opts.addr)) fail('--grpc', 'host:port', opts.addr);

  let program: string;
  const named = c.program ?? c.name;
  if (opts.program !== undefined) {
    program = opts.program;
  } else if (named !== undefined) {
    if (typeof named !== 'string' || !/^[A-Za-z_][\w]*$/.test(named))
      fail(c.program !== undefined ? 'program' : 'name', 'a P4 program name', named);
    program = named as string;
  } else {
    const arch = opts.arch ?? c.arch ?? 'tf1';
    if (arch !== 'tf1' && arch !== 'tf2') fail('arch', '"tf1" or "tf2"', arch);
    program = programForArch(arch as Arch);
  }

  const lb = c.load_balancer_ip;
  if (!isIpv4(lb)) fail('load_balancer_ip', 'an IPv4 address', lb);

  const ps = c.port_setup ?? [];
  if (!Array.isArray(ps)) fail('port_setup', 'an array', ps);
  const port_setup = (ps as unknown[]).map((p, i) => {
    const path = `port_setup[${i}].`;
    if (!p || typeof p !== 'object') fail(`port_setup[${i}]`, 'an object', p);
    const o = p as Record<string, unknown>;
    return {
      dev_port: int(o, 'dev_port', path, 0, MAX_SW_PORT),
      speed: str(o, 'speed', path, /^BF_SPEED_\w+$/, 'BF_SPEED_<rate>, e.g. BF_SPEED_25G'),
      fec: str(o, 'fec', path, /^BF_FEC_TYP_\w+$/, 'BF_FEC_TYP_<type>'),
      // The original file calls it auto_neg.
      an: str(o, o.an !== undefined ? 'an' : 'auto_neg', path, /^PM_AN_\w+$/, 'PM_AN_<mode>', 'PM_AN_DEFAULT'),
    };
  });
  const dup = port_setup.find((p, i) => port_setup.findIndex((q) => q.dev_port === p.dev_port) !== i);
  if (dup) fail('port_setup', 'distinct dev_port values', dup.dev_port);

  const ns = c.nodes;
  if (!Array.isArray(ns) || ns.length === 0) fail('nodes', 'a non-empty array', ns);
  const nodes = (ns as unknown[]).map((n, i) => {
    const path = `nodes[${i}].`;
    if (!n || typeof n !== 'object') fail(`nodes[${i}]`, 'an object', n);
    const o = n as Record<string, unknown>;
    if (!isIpv4(o.ipv4)) fail(`${path}ipv4`, 'an IPv4 address', o.ipv4);
    const mac = o.dst_mac ?? o.mac;
    if (mac !== undefined && !isMac(mac)) fail(`${path}dst_mac`, 'a MAC address like 02:42:c0:a8:0c:02', mac);
    if (o.is_lb_node !== undefined && typeof o.is_lb_node !== 'boolean') fail(`${path}is_lb_node`, 'true or false', o.is_lb_node);
    const node: NodeConfig = {
      ipv4: o.ipv4 as string,
      sw_port: int(o, 'sw_port', path, 0, MAX_SW_PORT),
      is_lb_node: o.is_lb_node === true,
    };
    if (mac !== undefined) node.dst_mac = (mac as string).toLowerCase();
    return node;
  });
  const dupNode = nodes.find((n, i) => nodes.findIndex((m) => m.ipv4 === n.ipv4) !== i);
  if (dupNode) fail('nodes', 'distinct ipv4 values', dupNode.ipv4);
  // Every load-balanced node is a member of the one selector group.
  const members = nodes.filter((n) => n.is_lb_node).length;
  if (members > MAX_GROUP_SIZE) fail('nodes', `at most ${MAX_GROUP_SIZE} nodes with is_lb_node`, members);

  return {
    id: int(c, 'id', '', 0, 0xffffffff, 0),
    client_id: int(c, 'client_id', '', 0, 0xffffffff, 0),
    addr,
    program,
    load_balancer_ip: lb as string,
    service_port: int(c, 'service_port', '', 1, 65535),
    port_setup,
    nodes,
  };
}

export function loadControllerConfig(file: string, opts: ParseOpts = {}): ControllerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`controller config ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`controller config ${file}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return parseControllerConfig(raw, opts);
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`);
  }
}
