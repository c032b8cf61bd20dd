// Issue 11 item h: the published scripts' NIC offloads and direct-link bring-up are the default on
// hardware, p4cf's on the local testbed, each selectable, and recorded with every migration.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { directLinkSetup, directLinkUpScript, nicOffloadMode, nicTuneScript } from '../lib/server/infra.ts';
import { serverNode } from '../lib/server/net.ts';
import { projectDir } from './helpers/runner.ts';

const HW = { TESTBED: 'hw', TOFINO_SSH: 'lab@sw', LAKEWOOD_SSH: 'lab@lw', LOVELAND_SSH: 'lab@lv' };
const cfg = (env: Record<string, string> = {}, argv: string[] = []) => loadConfig({ cwd: projectDir, env, argv }).config;

describe('comparability with the published scripts', () => {
  it("auto: the original offloads (tx, rx, sg) and direct-link bring-up on hardware, p4cf's on the local testbed", () => {
    expect([nicOffloadMode(cfg(HW)), directLinkSetup(cfg(HW))]).toEqual(['original', 'up']);
    expect([nicOffloadMode(cfg()), directLinkSetup(cfg())]).toEqual(['p4cf', 'none']);
    const hw = cfg(HW);
    const script = nicTuneScript(hw, serverNode(hw, 'lakewood'));
    expect(script).toMatch(/ethtool -K \S+ tx off/);
    expect(script).toMatch(/ethtool -K \S+ sg off/);
    expect(script).not.toMatch(/ethtool -K \S+ gro off/);
  });
  it('each can be chosen either way', () => {
    const c = cfg(HW, ['--set', 'NIC_OFFLOADS=p4cf', '--set', 'DIRECT_LINK_SETUP=none']);
    expect([nicOffloadMode(c), directLinkSetup(c)]).toEqual(['p4cf', 'none']);
    const keep = cfg({}, ['--set', 'NIC_OFFLOADS=keep']);
    expect(nicTuneScript(keep, serverNode(keep, 'loveland'))).not.toMatch(/ethtool/);
    expect(() => cfg({}, ['--set', 'NIC_OFFLOADS=all'])).toThrow(
      /NIC_OFFLOADS="all" \(from --set\): expected one of auto, original, p4cf, keep/,
    );
  });
  it('the direct link gets its address only when it lacks it, and says so (the undo then removes only that)', () => {
    const c = cfg(HW);
    const s = directLinkUpScript(serverNode(c, 'loveland'));
    expect(s).toContain(`ip link set ${c.LOVELAND_DIRECT_IF} up`);
    expect(s).toContain(
      `grep -qF ' ${c.LOVELAND_DIRECT_IP}/'; then ip addr add ${c.LOVELAND_DIRECT_IP}/24 dev ${c.LOVELAND_DIRECT_IF} && echo added`,
    );
  });
});

import { execFileSync } from 'node:child_process';
import { transferPortPick } from '../lib/migration/migrate.ts';
import { ensureLocalNetTool } from '../lib/nettool/index.ts';

describe('the transfer port (published scripts: a free one per migration)', () => {
  it('auto: free on hardware, TRANSFER_PORT on the local testbed; either can be chosen', () => {
    expect(transferPortPick(cfg(HW))).toBe('free');
    expect(transferPortPick(cfg())).toBe('fixed');
    expect(transferPortPick(cfg(HW, ['--set', 'TRANSFER_PORT_PICK=fixed']))).toBe('fixed');
  });
  it('p4cf-net free-port prints a port that is free on that address', async () => {
    const tool = await ensureLocalNetTool();
    const port = Number(
      execFileSync(process.execPath, [tool, 'free-port', '127.0.0.1'], { encoding: 'utf8', timeout: 10_000 }).trim(),
    );
    expect(Number.isInteger(port) && port > 1024 && port < 65536).toBe(true);
    // and nothing holds it after the tool exits: it can be bound at once
    const net = await import('node:net');
    await new Promise<void>((res, rej) => {
      const s = net
        .createServer()
        .once('error', rej)
        .listen(port, '127.0.0.1', () => s.close(() => res()));
    });
  });
});
