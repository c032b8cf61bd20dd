// Two namespaces joined by a veth — the stream server's container in one (podman, host network of
// that namespace), its clients in the other — for the tests that checkpoint and restore the server
// with live connections outside the full testbed. Names and the /24 are the caller's, so two
// test files can run side by side.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureServerImage } from '../../experiments/workload/image.ts';
import { bundleRemote } from '../../lib/hosts/bundle.ts';
import { createLocalHost } from '../../lib/hosts/local.ts';
import { sh } from '../../lib/hosts/quote.ts';
import { waitFor } from '../../lib/run/poll.ts';

export interface StreamPairSpec {
  /** Short tag: names the image (`…:tag`), the container (`p4wl-<tag>srv`), namespaces and veths. */
  tag: string;
  /** First three octets of the veth's /24: the server gets .1, the clients .2. */
  subnet: string;
}

export function streamPair({ tag, subnet }: StreamPairSpec) {
  const local = createLocalHost();
  const image = `localhost/p4wl-stream-server:${tag}`;
  const container = `p4wl-${tag}srv`;
  const nsServer = `p4wl-${tag}s`;
  const nsClient = `p4wl-${tag}c`;
  const serverIp = `${subnet}.1`;
  const tmp = mkdtempSync(join(tmpdir(), `p4wl-${tag}-`));
  let dist = '';
  const x = (cmd: string, timeoutMs = 60_000) => local.exec(cmd, { quiet: true, timeoutMs });
  const inServerNs = (cmd: string) => `nsenter --net=/run/netns/${nsServer} ${cmd}`;
  const health = () =>
    local.exec(sh`ip netns exec ${nsClient} curl -sf --max-time 1 http://${serverIp}:8080/health`, {
      allowFail: true,
      quiet: true,
    });

  return {
    local,
    x,
    inServerNs,
    image,
    container,
    nsClient,
    serverIp,
    tmp,
    /** Where the bundled programs are (stream-server.mjs, loadgen.mjs); set by setUp(). */
    dist: () => dist,
    /** Bundles the programs, builds the server image and wires the two namespaces. */
    async setUp() {
      dist = await bundleRemote(resolve(import.meta.dirname, '../..'), { require: ['stream-server.mjs', 'loadgen.mjs'] });
      await ensureServerImage(local, { image, bundleFile: join(dist, 'stream-server.mjs'), workDir: join(tmp, 'build') });
      const [a, b] = [`p4wl-${tag}a`, `p4wl-${tag}b`];
      await x(
        [
          sh`ip netns add ${nsServer}`,
          sh`ip netns add ${nsClient}`,
          sh`ip link add ${a} netns ${nsServer} type veth peer name ${b} netns ${nsClient}`,
          sh`ip -n ${nsServer} addr add ${serverIp}/24 dev ${a}`,
          sh`ip -n ${nsClient} addr add ${subnet}.2/24 dev ${b}`,
          sh`ip -n ${nsServer} link set ${a} up`,
          sh`ip -n ${nsClient} link set ${b} up`,
          sh`ip -n ${nsServer} link set lo up`,
          sh`ip -n ${nsClient} link set lo up`,
        ].join(' && '),
      );
    },
    /** Removes the container, the image, both namespaces and the scratch folder. */
    async tearDown() {
      await local.exec(sh`podman rm -f ${container}`, { allowFail: true, quiet: true });
      await local.exec(sh`podman rmi -f ${image}`, { allowFail: true, quiet: true });
      await local.exec(sh`ip netns del ${nsServer}; ip netns del ${nsClient}`, { allowFail: true, quiet: true });
      rmSync(tmp, { recursive: true, force: true });
    },
    /** Starts the server container (extra server flags appended) and waits until /health answers. */
    async startServer(extra: string[] = []) {
      await x(
        inServerNs(
          sh`podman run -d --pull=never --name ${container} --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 ${image} --port 8080 --metrics-port 8081 ${extra}`,
        ),
      );
      await waitFor('server /health', async () => (await health()).code === 0, 15_000, 300);
    },
    /** The server's connected clients as its /health reports them, or undefined when it does not answer. */
    async clients(): Promise<number | undefined> {
      const h = await health();
      return h.code === 0 ? (JSON.parse(h.stdout) as { clients: number }).clients : undefined;
    },
  };
}
