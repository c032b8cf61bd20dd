// Phase build: per server the podman macvlan network (VEPA) on the switch NIC, NIC tuning and the
// RST drop rule; on the first server of the schedule the server container (fixed IP/MAC) with
// rto_min, static ARP and keepalives in its netns; on LOADGEN_HOST the load generator's macvlan shim. Every piece registers its undo,
// so the run's end (or a failure) removes it after collect has fetched the logs.
import {
  checkSharedNetwork,
  directLinkAddrDelCmd,
  directLinkSetup,
  directLinkUpScript,
  networkCreateCmd,
  nicOffloadMode,
  nicTuneScript,
  rstRuleAddCmd,
  rstRuleDelCmd,
  runScript,
  serverRunCmd,
  shimScript,
} from '../../lib/server/infra.ts';
import { containerNetScript, containerPidCmd, parsePid, serverNode } from '../../lib/server/net.ts';
import { homeServer, loadgenHost } from '../../lib/migration/schedule.ts';
import type { Phase } from '../../lib/run/phases.ts';
import { sh } from '../../lib/hosts/quote.ts';
import { extraBackends } from '../../lib/server/backend.ts';
import { tail } from '../../lib/run/text.ts';

export const phase: Phase = {
  name: 'build',
  description:
    'macvlan network, NIC tuning and RST rule per server; server container on its first server, load generator shim on LOADGEN_HOST',
  hosts: (ctx) => [...ctx.config.SERVERS],
  reads: [],
  writes: ['serverHost', 'serverProc'],
  async run(ctx) {
    ctx.manifest?.setTestbed('comparability', {
      nic_offloads: nicOffloadMode(ctx.config),
      direct_link_setup: directLinkSetup(ctx.config),
    });
    const { config: c, onServer, cleanup } = ctx;
    checkSharedNetwork(c);
    const say = (m: string) => ctx.log.step('build', m);

    for (const name of c.SERVERS) {
      const on = onServer(name);
      const node = serverNode(c, name);
      // Each undo is registered before its resource is made: a Ctrl-C ends the command, but the
      // host may still complete it. Undos throw on a real failure, so the cleanup reports it;
      // absence is expected (on the local testbed both servers share one network definition,
      // removed by the first undo).
      cleanup.add(`remove podman network ${c.HW_NET} on ${name}`, async () => {
        // a create the Ctrl-C cut off can still be finishing on the host (the TERM ends the remote
        // shell, not podman under it): wait for that process (at most 5 s), then remove
        await on.script(networkRemoveScript(c.HW_NET));
      });
      await on.script(networkCreateCmd(c, node));
      await runScript(on, nicTuneScript(c, node), `NIC ${node.nic} (offloads: ${nicOffloadMode(c)})`, say);
      if (directLinkSetup(c) === 'up') {
        const r = await on.script(directLinkUpScript(node)).dryRun('');
        if (r.stdout.includes('added'))
          cleanup.add(`remove ${node.directIp} from ${node.directIf} on ${name}`, async () => {
            await on.script(directLinkAddrDelCmd(node));
          });
        say(
          `direct link on ${name}: ${node.directIf} up with ${node.directIp}/24${r.stdout.includes('added') ? ' (address added for this run)' : ''}`,
        );
      }
      cleanup.add(`remove RST drop rule on ${name} ${node.nic}`, async () => {
        await on.script(rstRuleDelCmd(node.nic)).nothrow();
      });
      await on.script(rstRuleAddCmd(node.nic));
    }

    // The container first: the shim's static ARP entry and the switch entry point at it.
    const home = homeServer(c);
    const first = onServer(home);
    const firstNode = serverNode(c, home);
    const lg = loadgenHost(c);
    const shimOn = onServer(lg);
    const shimNode = serverNode(c, lg);
    cleanup.add(
      `remove container ${c.SERVER_CONTAINER}`,
      async () => {
        // wherever it is now (it moves with every migration)
        const failed: string[] = [];
        for (const name of c.SERVERS) {
          const r = await onServer(name)`podman rm -f -t 1 --ignore ${c.SERVER_CONTAINER} >/dev/null`.nothrow();
          if (!r.ok) failed.push(`${name}: exit ${r.exitCode} ${tail(r.stderr, 3)}`);
        }
        if (failed.length) throw new Error(failed.join('; '));
      },
      { timeoutMs: 30_000 },
    );
    const id = (await first.script(serverRunCmd(c)).timeout(60_000).dryRun('<container id>')).lines().pop()?.trim() ?? '';
    ctx.state.set('serverHost', home);
    const pid = parsePid(
      (await first.script(containerPidCmd(c.SERVER_CONTAINER)).dryRun('<server pid>')).stdout,
      `PID of ${c.SERVER_CONTAINER}`,
    );
    ctx.state.set('serverProc', { pid, id });
    await runScript(first, containerNetScript(c, firstNode, pid), 'container net', say);
    say(
      `container ${c.SERVER_CONTAINER} runs on ${home} (pid ${pid}) at ${c.H2_IP} / ${c.H2_MAC}` +
        (c.MIGRATION_MODE === 'vip' ? ` — backend H2 behind VIP ${c.VIP}` : ''),
    );

    // BACKENDS ≥ 2 (vip mode): the other containers behind the VIP, on their servers
    for (const b of extraBackends(c)) {
      const on = onServer(b.server);
      await on.script(serverRunCmd(c, b)).timeout(60_000).dryRun('<container id>');
      cleanup.add(
        `remove backend ${b.name} on ${b.server}`,
        async () => {
          await on`podman rm -f -t 1 --ignore ${b.name} >/dev/null`;
        },
        { timeoutMs: 30_000 },
      );
      const bpid = parsePid((await on.script(containerPidCmd(b.name)).dryRun('<backend pid>')).stdout, `PID of ${b.name}`);
      await runScript(on, containerNetScript(c, serverNode(c, b.server), bpid, { backend: b }), `${b.name} net`, say);
      say(`backend ${b.k} ${b.name} runs on ${b.server} (pid ${bpid}) at ${b.ip} / ${b.mac} behind VIP ${c.VIP}`);
    }

    cleanup.add(`remove shim ${c.MACSHIM_IF} on ${lg}`, async () => {
      await shimOn`if ip link show ${c.MACSHIM_IF} >/dev/null 2>&1; then ip link del ${c.MACSHIM_IF}; fi`;
    });
    await shimOn.script(shimScript(c, shimNode.nic));
    say(
      `shim ${c.MACSHIM_IF} ${c.SHIM_IP} / ${c.SHIM_MAC} on ${lg} ${shimNode.nic}; rto_min ${c.RTO_MIN_MS || 'kernel default'} ms`,
    );
  },
};

/** Remove the podman network, after any `podman network create` of it still running on the host. */
export function networkRemoveScript(net: string): string {
  // [c]: the pattern does not match this script's own command line
  const creating = sh`ps -eo args= | grep -q -- ${`podman network [c]reate .* ${net}$`}`;
  return [
    `i=0; while ${creating} && [ $i -lt 25 ]; do sleep 0.2; i=$((i+1)); done`,
    sh`if podman network exists ${net}; then podman network rm -f ${net} >/dev/null; fi`,
  ].join('\n');
}
