// Desired switch state and the operations on it. The desired state is the controller's truth: it is
// what /reinitialize resets to the config, what every endpoint edits (only after the switch accepted
// the write), and what is re-applied after the switch restarts.
import { BfrtError, type BfrtClient, type EntrySpec, type Update } from './bfrt.ts';
import { MAX_GROUP_SIZE, type ControllerConfig, type PortSetup } from './config.ts';

export const GROUP_ID = 1;

/** Insert order; deletes go the other way round (referential integrity of the ActionSelector). */
export const TABLES = [
  'action_selector_ap',
  'action_selector',
  'node_selector',
  'forward',
  'arp_forward',
  'client_snat',
] as const;
export const DELETE_ORDER = [
  'node_selector',
  'action_selector',
  'action_selector_ap',
  'forward',
  'arp_forward',
  'client_snat',
] as const;

export interface FwdNode {
  ipv4: string;
  sw_port: number;
  dst_mac?: string;
}
export interface Member {
  id: number;
  dst: string;
  active: boolean;
}

export interface DesiredState {
  lbIp: string;
  servicePort: number;
  ports: PortSetup[];
  /** forward + arp_forward entries, by IPv4 */
  nodes: Map<string, FwdNode>;
  /** action profile members; the selector group and node_selector exist when there is at least one */
  members: Member[];
  snat: boolean;
}

/** 404 unknown node, 409 conflict, 400 semantically bad request: raised before any write. */
export class NodeError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
    readonly field: string,
  ) {
    super(message);
    this.name = 'NodeError';
  }
}

export function desiredFromConfig(cfg: ControllerConfig): DesiredState {
  const nodes = new Map<string, FwdNode>();
  for (const n of cfg.nodes)
    nodes.set(n.ipv4, { ipv4: n.ipv4, sw_port: n.sw_port, ...(n.dst_mac ? { dst_mac: n.dst_mac } : {}) });
  const members = cfg.nodes.filter((n) => n.is_lb_node).map((n, i) => ({ id: i, dst: n.ipv4, active: true }));
  return { lbIp: cfg.load_balancer_ip, servicePort: cfg.service_port, ports: cfg.port_setup, nodes, members, snat: true };
}

// ---- entry builders -------------------------------------------------------------------------

/** The single key field of a table, whatever the P4 source named it. */
function keyName(client: BfrtClient, table: string): string {
  const keys = client.table(table).keys;
  if (keys.length !== 1)
    throw new Error(`table ${table}: expected one key field, bf-rt.json has ${keys.map((k) => k.name).join(', ') || 'none'}`);
  return keys[0].name;
}

const memberEntry = (c: BfrtClient, m: Member): EntrySpec => ({
  table: 'action_selector_ap',
  key: { [keyName(c, 'action_selector_ap')]: m.id },
  action: 'set_rewrite_dst',
  data: { new_dst: m.dst },
});

const groupEntry = (c: BfrtClient, members: Member[]): EntrySpec => ({
  table: 'action_selector',
  key: { [keyName(c, 'action_selector')]: GROUP_ID },
  data: {
    $MAX_GROUP_SIZE: MAX_GROUP_SIZE,
    $ACTION_MEMBER_ID: members.map((m) => m.id),
    $ACTION_MEMBER_STATUS: members.map((m) => m.active),
  },
});

const selectorEntry = (c: BfrtClient, vip: string): EntrySpec => ({
  table: 'node_selector',
  key: { [keyName(c, 'node_selector')]: vip },
  data: { $SELECTOR_GROUP_ID: GROUP_ID },
});

function forwardEntry(c: BfrtClient, n: FwdNode): EntrySpec {
  const key = { [keyName(c, 'forward')]: n.ipv4 };
  // The MAC rewrite matters when the sender addressed the frame to someone else (macvlan VEPA shim).
  if (n.dst_mac && c.hasAction('forward', 'set_egress_port_with_mac')) {
    return { table: 'forward', key, action: 'set_egress_port_with_mac', data: { port: n.sw_port, dst_mac: n.dst_mac } };
  }
  return { table: 'forward', key, action: 'set_egress_port', data: { port: n.sw_port } };
}

const arpEntry = (c: BfrtClient, n: FwdNode): EntrySpec => ({
  table: 'arp_forward',
  key: { [keyName(c, 'arp_forward')]: n.ipv4 },
  action: 'set_egress_port',
  data: { port: n.sw_port },
});

const snatEntry = (c: BfrtClient, s: DesiredState): EntrySpec => ({
  table: 'client_snat',
  key: { [keyName(c, 'client_snat')]: s.servicePort },
  action: 'set_rewrite_src',
  data: { new_src: s.lbIp },
});

const ins = (entry: EntrySpec): Update => ({ type: 'INSERT', entry });
const mod = (entry: EntrySpec): Update => ({ type: 'MODIFY', entry });

// ---- whole-state operations -------------------------------------------------------------------

export async function configurePorts(c: BfrtClient, ports: PortSetup[], log: (l: string) => void): Promise<void> {
  if (!ports.length) return;
  if (!c.hasTable('$PORT')) {
    log('[nodes] switch has no $PORT table; skipping port setup');
    return;
  }
  const t = c.table('$PORT');
  const keyField = t.keys[0]?.name ?? '$DEV_PORT';
  const has = (n: string) => t.data.some((f) => f.name === n);
  // Ports that survived a controller restart or reconnect: modify only when they differ, so
  // a healthy link is not touched.
  let existing: Map<number, Record<string, unknown>> | undefined;
  try {
    existing = new Map((await c.read('$PORT')).map((e) => [Number(e.key[keyField]), e.data]));
  } catch (e) {
    if (!(e instanceof BfrtError) || e.kind !== 'rejected') throw e;
    log(`[nodes] cannot read $PORT (${e.message}); inserting ports blindly`);
  }
  for (const p of ports) {
    const data: Record<string, string | boolean> = {};
    if (has('$SPEED')) data.$SPEED = p.speed;
    if (has('$FEC')) data.$FEC = p.fec;
    if (has('$AUTO_NEGOTIATION')) data.$AUTO_NEGOTIATION = p.an;
    if (has('$PORT_ENABLE')) data.$PORT_ENABLE = true;
    const entry: EntrySpec = { table: '$PORT', key: { [keyField]: p.dev_port }, data };
    const cur = existing?.get(p.dev_port);
    if (cur && Object.entries(data).every(([k, v]) => cur[k] === v)) continue;
    const first = cur ? mod(entry) : ins(entry);
    try {
      await c.write([first], `port ${p.dev_port}`);
    } catch (e) {
      if (existing || !(e instanceof BfrtError) || e.kind !== 'rejected') throw e;
      // Without a readable $PORT, an insert refused as existing becomes a modify.
      try {
        await c.write([mod(entry)], `port ${p.dev_port} exists`);
      } catch (e2) {
        const msg = `port setup of dev_port ${p.dev_port} failed: insert: ${(e as Error).message}; modify: ${(e2 as Error).message}`;
        throw e2 instanceof BfrtError ? new BfrtError(msg, e2.kind, e2.grpcCode) : new Error(msg);
      }
    }
  }
}

export async function clearAll(c: BfrtClient): Promise<void> {
  for (const t of DELETE_ORDER) await c.clear(t);
}

/** Every entry the desired state puts on the switch, per table in insert order (what insertAll writes, what switchMatches compares). */
export function desiredEntries(c: BfrtClient, s: DesiredState): Map<string, EntrySpec[]> {
  const out = new Map<string, EntrySpec[]>(TABLES.map((t) => [t, []]));
  if (s.members.length) {
    out.set(
      'action_selector_ap',
      s.members.map((m) => memberEntry(c, m)),
    );
    out.set('action_selector', [groupEntry(c, s.members)]);
    out.set('node_selector', [selectorEntry(c, s.lbIp)]);
  }
  out.set(
    'forward',
    [...s.nodes.values()].map((n) => forwardEntry(c, n)),
  );
  out.set(
    'arp_forward',
    [...s.nodes.values()].map((n) => arpEntry(c, n)),
  );
  out.set('client_snat', s.snat ? [snatEntry(c, s)] : []);
  return out;
}

const norm = (v: unknown): unknown => (typeof v === 'string' ? v.toLowerCase() : Array.isArray(v) ? v.map(norm) : v);
const canonKey = (key: Record<string, unknown>) =>
  JSON.stringify(
    Object.keys(key)
      .sort()
      .map((k) => [k, norm(key[k])]),
  );

/**
 * True when the switch holds exactly the desired entries (extra read-only fields a switch reports
 * are ignored). Lets a reconnect to a switch that kept its tables skip the clear-and-insert,
 * which would drop traffic for the length of the rewrite.
 */
export async function switchMatches(c: BfrtClient, s: DesiredState): Promise<boolean> {
  for (const [table, specs] of desiredEntries(c, s)) {
    const have = await c.read(table);
    if (have.length !== specs.length) return false;
    const byKey = new Map(have.map((e) => [canonKey(e.key), e]));
    for (const spec of specs) {
      const e = byKey.get(canonKey(spec.key ?? {}));
      if (!e) return false;
      const wantAction = spec.action
        ? c.table(table).actions.find((a) => a.name === spec.action || a.name.endsWith(`.${spec.action}`))?.name
        : undefined;
      if (wantAction !== e.action) return false;
      for (const [k, v] of Object.entries(spec.data ?? {})) {
        if (JSON.stringify(norm(v)) !== JSON.stringify(norm(e.data[k]))) return false;
      }
    }
  }
  return true;
}

/** Insert the whole desired state into empty tables, in dependency order. */
export async function insertAll(c: BfrtClient, s: DesiredState): Promise<void> {
  const e = desiredEntries(c, s);
  const insert = async (tables: string[], label: string) => {
    const updates = tables.flatMap((t) => e.get(t)!).map(ins);
    if (updates.length) await c.write(updates, label);
  };
  // Members, the group and node_selector reference each other: one Write each, in that order.
  await insert(['action_selector_ap'], 'members');
  await insert(['action_selector'], 'selector group');
  await insert(['node_selector'], 'node_selector');
  await insert(['forward', 'arp_forward', 'client_snat'], 'forward/arp/snat');
}

export interface NodeManager {
  desired(): DesiredState;
  /** Desired state as JSON-friendly data. */
  snapshot(): Record<string, unknown>;
  /** Reset the desired state to the config and program the switch from scratch. */
  reinitialize(): Promise<void>;
  /** Bring the switch to the current desired state (after a reconnect): untouched if it already is, else from scratch. */
  reapply(): Promise<void>;
  migrateNode(oldIpv4: string, newIpv4: string): Promise<{ member_id: number; writes: number; ms: number }>;
  updateForward(ipv4: string, swPort: number, dstMac?: string): Promise<{ writes: number; ms: number }>;
  addForward(ipv4: string, swPort: number, dstMac?: string): Promise<{ writes: number; ms: number }>;
  deleteClientSnat(): Promise<{ deleted: boolean }>;
  setMemberActive(ipv4: string, active: boolean): Promise<{ member_ids: number[]; ms: number }>;
  cleanup(): Promise<void>;
}

export function createNodeManager(c: BfrtClient, cfg: ControllerConfig, log: (l: string) => void = () => {}): NodeManager {
  let state = desiredFromConfig(cfg);
  // One operation at a time: a re-apply after reconnect must not interleave with an API write.
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn);
    chain = run.catch(() => {});
    return run;
  };

  const program = async () => {
    await clearAll(c);
    await insertAll(c, state);
    log(
      `[nodes] programmed: ${state.members.length} members, ${state.nodes.size} forward/arp entries, snat ${state.snat ? 'on' : 'off'}`,
    );
  };

  // After a reconnect: leave a switch that kept exactly our entries alone.
  const resync = async () => {
    await configurePorts(c, state.ports, log);
    if (await switchMatches(c, state)) {
      log('[nodes] switch still holds the desired entries; nothing to re-apply');
      return;
    }
    await program();
  };

  const requireNode = (ipv4: string, field: string): FwdNode => {
    const n = state.nodes.get(ipv4);
    if (!n)
      throw new NodeError(
        `${field} ${ipv4} is not a known node (known: ${[...state.nodes.keys()].join(', ') || 'none'})`,
        404,
        field,
      );
    return n;
  };

  return {
    desired: () => state,
    snapshot: () => ({
      load_balancer_ip: state.lbIp,
      service_port: state.servicePort,
      client_snat: state.snat,
      members: state.members.map((m) => ({ ...m })),
      nodes: [...state.nodes.values()].map((n) => ({ ...n, is_lb_node: state.members.some((m) => m.dst === n.ipv4) })),
    }),

    reinitialize: () =>
      serial(async () => {
        state = desiredFromConfig(cfg);
        await configurePorts(c, state.ports, log);
        await program();
      }),

    reapply: () => serial(resync),

    migrateNode: (oldIpv4, newIpv4) =>
      serial(async () => {
        const targets = state.members.filter((m) => m.dst === oldIpv4);
        if (!targets.length)
          throw new NodeError(
            `old_ipv4 ${oldIpv4} is not a load-balanced node (members: ${state.members.map((m) => m.dst).join(', ') || 'none'})`,
            404,
            'old_ipv4',
          );
        if (oldIpv4 === newIpv4) throw new NodeError(`new_ipv4 equals old_ipv4 (${oldIpv4})`, 400, 'new_ipv4');
        // The new backend must be reachable already (a configured node or one added with
        // /addForward): re-targeting a member to an address the switch cannot deliver to would
        // black-hole every connection the selector hashes onto it.
        requireNode(newIpv4, 'new_ipv4');
        const updates: Update[] = targets.map((m) => mod(memberEntry(c, { ...m, dst: newIpv4 })));
        const { ms } = await c.write(updates, `migrateNode ${oldIpv4}→${newIpv4}`);
        for (const m of targets) m.dst = newIpv4;
        return { member_id: targets[0].id, writes: updates.length, ms };
      }),

    updateForward: (ipv4, swPort, dstMac) =>
      serial(async () => {
        const n = requireNode(ipv4, 'ipv4');
        const next: FwdNode = { ipv4, sw_port: swPort, ...((dstMac ?? n.dst_mac) ? { dst_mac: dstMac ?? n.dst_mac } : {}) };
        // Both entries in one Write RPC: this is the switch step of every migration.
        const { ms } = await c.write([mod(forwardEntry(c, next)), mod(arpEntry(c, next))], `updateForward ${ipv4}→${swPort}`);
        state.nodes.set(ipv4, next);
        return { writes: 2, ms };
      }),

    addForward: (ipv4, swPort, dstMac) =>
      serial(async () => {
        if (state.nodes.has(ipv4))
          throw new NodeError(`dst_addr ${ipv4} already has a forward entry (use /updateForward)`, 409, 'dst_addr');
        const n: FwdNode = { ipv4, sw_port: swPort, ...(dstMac ? { dst_mac: dstMac } : {}) };
        const { ms } = await c.write([ins(forwardEntry(c, n)), ins(arpEntry(c, n))], `addForward ${ipv4}→${swPort}`);
        state.nodes.set(ipv4, n);
        return { writes: 2, ms };
      }),

    deleteClientSnat: () =>
      serial(async () => {
        if (!state.snat) return { deleted: false };
        await c.write(
          [{ type: 'DELETE', entry: { table: 'client_snat', key: { [keyName(c, 'client_snat')]: state.servicePort } } }],
          'deleteClientSnat',
        );
        state.snat = false;
        return { deleted: true };
      }),

    setMemberActive: (ipv4, active) =>
      serial(async () => {
        const targets = state.members.filter((m) => m.dst === ipv4);
        if (!targets.length) throw new NodeError(`ipv4 ${ipv4} is not a load-balanced node`, 404, 'ipv4');
        const next = state.members.map((m) => (m.dst === ipv4 ? { ...m, active } : m));
        const { ms } = await c.write([mod(groupEntry(c, next))], `member ${ipv4} ${active ? 'active' : 'inactive'}`);
        state.members = next;
        return { member_ids: targets.map((m) => m.id), ms };
      }),

    cleanup: () =>
      serial(async () => {
        await clearAll(c);
        state = { ...state, nodes: new Map(), members: [], snat: false };
      }),
  };
}
