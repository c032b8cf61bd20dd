// Phase build: per server the podman macvlan network (VEPA) on the switch NIC, NIC tuning and the
// RST drop rule; on lakewood the server container (fixed IP/MAC) with rto_min, static ARP and
// keepalives in its netns, and the load generator's macvlan shim. Every piece registers its undo,
// so the run's end (or a failure) removes it after collect has fetched the logs.
import { checkSharedNetwork, networkCreateCmd, nicTuneScript, rstRuleAddCmd, rstRuleDelCmd, runScript, serverRunCmd, shimScript } from '../../lib/server/infra.ts';
import { containerNetScript, containerPidCmd, parsePid, serverNode, SERVERS } from '../../lib/server/net.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { sh } from '../../lib/hosts/quote.ts';
import { tail } from '../../lib/hosts/errors.ts';

export const phase: Phase = {
  name: 'build',
  description: 'macvlan network, NIC tuning and RST rule per server; server container and load generator shim on lakewood',
  hosts: () => ['lakewood', 'loveland'],
  reads: [],
  writes: ['serverHost', 'serverContainer', 'serverProc'],
  async run(ctx) {
    const c = ctx.config;
    checkSharedNetwork(c);
    const say = (m: string) => ctx.log.step('build', m);
    for (const name of SERVERS) {
      const h = ctx.host(name);
      const node = serverNode(c, name);
      await h.exec(networkCreateCmd(c, node), { quiet: true });
      // Undos throw on a real failure, so the cleanup reports it; absence is expected (on the
      // local testbed both servers share one network definition, removed by the first undo).
      ctx.cleanup.add(`remove podman network ${c.HW_NET} on ${name}`, async () => {
        await h.exec(sh`if podman network exists ${c.HW_NET}; then podman network rm -f ${c.HW_NET} >/dev/null; fi`, { quiet: true });
      });
      await runScript(h, nicTuneScript(c, node), `NIC ${node.nic}`, say);
      await h.exec(rstRuleAddCmd(node.nic), { quiet: true });
      ctx.cleanup.add(`remove RST drop rule on ${name} ${node.nic}`, async () => { await h.exec(rstRuleDelCmd(node.nic), { quiet: true, allowFail: true }); });
    }

    const lw = ctx.host('lakewood');
    const lwNode = serverNode(c, 'lakewood');
    // container first: the shim's static ARP entry and the switch entry point at it
    const run = await lw.exec(serverRunCmd(c), { quiet: true, timeoutMs: 60_000, dryRunStdout: '<container id>' });
    const id = run.stdout.trim().split('\n').pop() ?? '';
    ctx.cleanup.add(`remove container ${c.SERVER_CONTAINER}`, async () => {
      // wherever it is now (it moves with every migration)
      const failed: string[] = [];
      for (const name of SERVERS) {
        const r = await ctx.host(name).exec(sh`podman rm -f -t 1 --ignore ${c.SERVER_CONTAINER} >/dev/null`, { quiet: true, allowFail: true });
        if (r.code !== 0) failed.push(`${name}: exit ${r.code} ${tail(r.stderr, 3)}`);
      }
      if (failed.length) throw new Error(failed.join('; '));
    }, { timeoutMs: 30_000 });
    ctx.state.set('serverHost', 'lakewood');
    ctx.state.set('serverContainer', c.SERVER_CONTAINER);
    const pid = parsePid((await lw.exec(containerPidCmd(c.SERVER_CONTAINER), { quiet: true, dryRunStdout: '<server pid>' })).stdout, `PID of ${c.SERVER_CONTAINER}`);
    ctx.state.set('serverProc', { pid, id });
    await runScript(lw, containerNetScript(c, lwNode, pid), 'container net', say);
    say(`container ${c.SERVER_CONTAINER} runs on lakewood (pid ${pid}) at ${c.H2_IP} / ${c.H2_MAC}`);

    await lw.exec(shimScript(c, lwNode.nic), { quiet: true });
    ctx.cleanup.add(`remove shim ${c.MACSHIM_IF} on lakewood`, async () => {
      await lw.exec(sh`if ip link show ${c.MACSHIM_IF} >/dev/null 2>&1; then ip link del ${c.MACSHIM_IF}; fi`, { quiet: true });
    });
    say(`shim ${c.MACSHIM_IF} ${c.SHIM_IP} / ${c.SHIM_MAC} on lakewood ${lwNode.nic}; rto_min ${c.RTO_MIN_MS || 'kernel default'} ms`);
  },
};
