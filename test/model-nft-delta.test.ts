// The switch model's fast Write path: element deltas between two renderings of the maps, and the
// long-lived `nft -i` session that applies them, each batch one transaction with its own errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDelta } from '../p4/model/nft.ts';
import { createNftSession, isUnclean, type NftSession } from '../p4/model/nft-session.ts';
import { parseMonitorLine, parseProcNetDev } from '../p4/model/ifaces.ts';
import { inNs, isRoot, netns } from './helpers/netns.ts';

const m = (o: Record<string, Record<string, string>>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, new Map(Object.entries(v))]));

describe('renderDelta', () => {
  it('re-adds a changed element, adds new ones and deletes removed ones, deletes first', () => {
    const from = m({ fwd_port: { '10.0.0.2': '"p140"', '10.0.0.3': '"p148"' }, fwd_mac: { '10.0.0.2': '02:00:00:00:00:02' } });
    const to = m({ fwd_port: { '10.0.0.2': '"p148"', '10.0.0.4': '"p152"' }, fwd_mac: { '10.0.0.2': '02:00:00:00:00:02' } });
    expect(renderDelta('t', from, to)).toBe(
      'delete element netdev t fwd_port { 10.0.0.2, 10.0.0.3 }; add element netdev t fwd_port { 10.0.0.2 : "p148", 10.0.0.4 : "p152" }',
    );
  });
  it('is empty when nothing changed, and refuses a different set of maps', () => {
    const a = m({ fwd_port: { '10.0.0.2': '"p140"' }, sel_0: { 0: '10.0.0.2' } });
    expect(renderDelta('t', a, m({ fwd_port: { '10.0.0.2': '"p140"' }, sel_0: { 0: '10.0.0.2' } }))).toBe('');
    expect(() => renderDelta('t', a, m({ fwd_port: {} }))).toThrow(/sel_0 is gone/);
    expect(() => renderDelta('t', m({ fwd_port: {} }), a)).toThrow(/sel_0 is new/);
  });
});

describe('interface list parsers', () => {
  it('reads names from /proc/net/dev and links from ip monitor lines', () => {
    const text = 'Inter-|   Receive\n face |bytes\n    lo: 0 0\np4mp-a: 1 2\n';
    expect([...parseProcNetDev(text)]).toEqual(['lo', 'p4mp-a']);
    expect(parseMonitorLine('Deleted 3: p4mp-a@p4mp-b: <BROADCAST> mtu 1500')).toEqual({
      deleted: true,
      index: 3,
      name: 'p4mp-a',
    });
    expect(parseMonitorLine('12: p4mp-c: <UP> mtu 1500')).toEqual({ deleted: false, index: 12, name: 'p4mp-c' });
    expect(parseMonitorLine('    link/ether 02:00')).toBeUndefined();
  });
});

const skip = !isRoot;
if (skip) console.warn('model-nft-delta: nft session tests skipped, they need root for a network namespace and nftables');

describe.skipIf(skip)('nft -i session (namespace p4mp-nft)', () => {
  const NS = 'p4mp-nft';
  const nets = netns('p4mp-');
  let s: NftSession;
  const elements = async (map: string) => {
    const j = JSON.parse(await inNs(NS, 'nft', ['-j', 'list', 'map', 'netdev', 'p4mp_t', map]));
    return (j.nftables.find((x: any) => x.map).map.elem ?? []).map((e: any) => `${e[0]}=${e[1]}`).sort();
  };

  beforeAll(async () => {
    await nets.add(NS);
    await inNs(NS, 'nft', ['-f', '-'], {
      input: 'table netdev p4mp_t {\n  map m { type ipv4_addr : ipv4_addr; elements = { 10.0.0.1 : 1.1.1.1 } }\n}\n',
    });
    s = createNftSession({ command: ['nsenter', `--net=/run/netns/${NS}`, 'nft'], timeoutMs: 5000 });
  });
  afterAll(async () => {
    await s?.close();
    await nets.cleanup();
  });

  it('applies a delete and re-add of an element as one batch', async () => {
    await s.run(
      'delete element netdev p4mp_t m { 10.0.0.1 }; add element netdev p4mp_t m { 10.0.0.1 : 2.2.2.2, 10.0.0.5 : 5.5.5.5 }',
    );
    expect(await elements('m')).toEqual(['10.0.0.1=2.2.2.2', '10.0.0.5=5.5.5.5']);
  });

  it("a refused batch changes nothing, reports nft's error, and the next batch still works", async () => {
    const err = await s
      .run(
        'delete element netdev p4mp_t m { 10.0.0.1 }; add element netdev p4mp_t m { 10.0.0.1 : 3.3.3.3 }; delete element netdev p4mp_t m { 10.0.0.9 }',
      )
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err?.message).toMatch(/nft refused the batch: .*10\.0\.0\.9/);
    expect(isUnclean(err)).toBe(false);
    expect(await elements('m')).toEqual(['10.0.0.1=2.2.2.2', '10.0.0.5=5.5.5.5']);
    await s.run('delete element netdev p4mp_t m { 10.0.0.5 }');
    expect(await elements('m')).toEqual(['10.0.0.1=2.2.2.2']);
  });

  it('reports a dead child as unclean and starts a new one for the next batch', async () => {
    const pid = s.pid();
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    // The exit may be seen before the batch is written (fresh child: batch applies) or after.
    const first = await s.run('add element netdev p4mp_t m { 10.0.0.7 : 7.7.7.7 }').then(
      () => 'ok',
      (e) => (isUnclean(e) ? 'unclean' : String(e)),
    );
    expect(['ok', 'unclean']).toContain(first);
    await s.run('add element netdev p4mp_t m { 10.0.0.8 : 8.8.8.8 }');
    expect(s.pid()).not.toBe(pid);
    expect(await elements('m')).toContain('10.0.0.8=8.8.8.8');
  });

  it('refuses a multi-line batch (one line is one transaction)', async () => {
    await expect(
      s.run('add element netdev p4mp_t m { 10.0.0.2 : 2.2.2.2 }\nadd element netdev p4mp_t m { 10.0.0.3 : 3.3.3.3 }'),
    ).rejects.toThrow(/one line/);
  });
});
