// Benchmark of link emulation (lib/modes/local/shaping.ts): does a LINK_RATE / DIRECT_LINK_RATE
// setting give that rate? iperf3 over a veth between two namespaces, unshaped (the baseline) and
// shaped at several rates with the same tbf commands the testbed phase uses, side by side:
// measured Gbit/s and the ratio measured / setting (goal 0.9–1.05). Also a lossy link's loss.
// Root only; namespaces p4lb-*, removed at the end.   npx tsx bench/links.ts [--seconds S]
import { applyCmds, removeCmd, type ShapedEnd } from '../lib/modes/local/shaping.ts';
import { inNs, iperf, isRoot, netns, sh } from '../test/helpers/netns.ts';

const i = process.argv.indexOf('--seconds');
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 3;
if (!Number.isInteger(SECONDS) || SECONDS < 1 || SECONDS > 60)
  throw new Error(`--seconds must be 1-60, got ${process.argv[i + 1]}`);
if (!isRoot) {
  console.log('bench/links.ts SKIPPED: needs root (network namespaces, tc, nftables)');
  process.exit(0);
}

const RATES = ['100mbit', '1gbit', '5gbit'];
const net = netns('p4lb-');
const A = 'p4lb-a';
const B = 'p4lb-b';
const end = (shape: Partial<ShapedEnd['shape']>): ShapedEnd => ({
  label: 'bench',
  ns: A,
  ifname: 'p4lb-va',
  shape: { rate: '', delay: '', jitter: '', loss: '', ...shape },
});
const bits = (r: string) =>
  Number(r.replace(/[a-z]+$/, '')) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[r.replace(/^[\d.]+/, '') as 'bit'];

try {
  await net.add(A);
  await net.add(B);
  await net.veth({ ns: A, name: 'p4lb-va', addr: '10.78.0.1/24' }, { ns: B, name: 'p4lb-vb', addr: '10.78.0.2/24' });
  const base = await iperf(B, A, '10.78.0.2', SECONDS);
  console.log(`baseline: unshaped veth ${(base / 1e9).toFixed(2)} Gbit/s (iperf3 -t ${SECONDS})`);
  console.log('setting    measured      ratio to setting');
  for (const rate of RATES) {
    const e = end({ rate });
    for (const c of applyCmds(e)) await sh('sh', ['-c', c]);
    try {
      const got = await iperf(B, A, '10.78.0.2', SECONDS);
      const note = bits(rate) > base ? ' (setting above the unshaped veth: the veth is the limit)' : '';
      console.log(`${rate.padEnd(10)} ${(got / 1e9).toFixed(3).padStart(7)} Gbit/s  ${(got / bits(rate)).toFixed(3)}${note}`);
    } finally {
      await sh('sh', ['-c', removeCmd(e)]);
    }
  }
  const lossy = { ...end({ loss: '5%' }), ns: B, ifname: 'p4lb-vb' };
  for (const c of applyCmds(lossy)) await sh('sh', ['-c', c]);
  try {
    const out = await inNs(A, 'ping', ['-c', '400', '-i', '0.005', '-q', '10.78.0.2'], { timeoutMs: 30_000 }).catch(
      (e: Error) => e.message,
    );
    const m = /(\d+(?:\.\d+)?)% packet loss/.exec(out);
    // loss applies to the echo requests arriving at B only (the ingress end shaped here)
    console.log(`loss 5% (one end, 400 pings): measured ${m ? m[1] : '?'}% (expected ≈5%)`);
  } finally {
    await sh('sh', ['-c', removeCmd(lossy)]);
  }
} finally {
  await net.cleanup();
}
