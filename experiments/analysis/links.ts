// The link emulation of a run (LINK_* and DIRECT_LINK_* on the local testbed) and what it did to the
// checkpoint transfers: per migration the transfer's time on the wire against the time the direct
// link's rate allows for that checkpoint, so a reader sees why a transfer was slow. For
// summary.json and report.html; reads the run's config.json and timing files only.
import { rateBitsPerS } from '../../lib/config/keys/types.ts';
import { esc, fmt, table } from './html.ts';
import type { RunData } from './load.ts';
import { numOrNull } from './timeline.ts';

/**
 * Bytes the shaper counts per checkpoint byte in a bulk TCP transfer at MTU 1500: each segment
 * carries 1448 payload bytes (1500 − 20 IP − 20 TCP − 12 timestamp option) in a 1514-byte frame
 * (+14 Ethernet, what tbf counts on a veth).
 */
export const WIRE_BYTES_PER_PAYLOAD_BYTE = 1514 / 1448;

/** The time a transfer of `bytes` checkpoint bytes needs at `rate` (a DIRECT_LINK_RATE value), headers included. */
export const transferAtRateMs = (bytes: number, rate: string): number =>
  ((bytes * WIRE_BYTES_PER_PAYLOAD_BYTE * 8) / rateBitsPerS(rate)) * 1000;

export interface LinkTransfer {
  index: number;
  checkpoint_bytes: number | null;
  /** Data movement only (transfer_wire_ms); transfer_ms adds the connect and the size check. */
  wire_ms: number | null;
  transfer_ms: number | null;
  at_rate_ms: number | null;
  /** wire_ms / at_rate_ms: about 1 when the link's rate decided the transfer. */
  ratio: number | null;
}

export interface LinkSummary {
  switch_links: { rate: string; delay: string; jitter: string; loss: string };
  direct_link: { rate: string; delay: string };
  /** Per migration; empty unless DIRECT_LINK_RATE is set. */
  transfers: LinkTransfer[];
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The run's link settings and the transfers they shaped; null when no link was emulated. */
export function linksOf(run: RunData): LinkSummary | null {
  const c = (k: string) => str(run.config[k]?.value);
  const switchLinks = { rate: c('LINK_RATE'), delay: c('LINK_DELAY'), jitter: c('LINK_JITTER'), loss: c('LINK_LOSS') };
  const direct = { rate: c('DIRECT_LINK_RATE'), delay: c('DIRECT_LINK_DELAY') };
  if (![...Object.values(switchLinks), ...Object.values(direct)].some(Boolean)) return null;
  const transfers = direct.rate
    ? run.timings.map((t, i): LinkTransfer => {
        const bytes = numOrNull(t.values.checkpoint_size_bytes);
        const wire = numOrNull(t.values.transfer_wire_ms);
        const atRate = bytes === null ? null : transferAtRateMs(bytes, direct.rate);
        return {
          index: numOrNull(t.values.index) ?? i + 1,
          checkpoint_bytes: bytes,
          wire_ms: wire,
          transfer_ms: numOrNull(t.values.transfer_ms),
          at_rate_ms: atRate,
          ratio: wire !== null && atRate ? wire / atRate : null,
        };
      })
    : [];
  return { switch_links: switchLinks, direct_link: direct, transfers };
}

const shapeText = (s: Record<string, string>): string =>
  Object.entries(s)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'not shaped';

/** One line for the terminal summary, or none. */
export function linksLine(l: LinkSummary | null): string | undefined {
  if (!l) return undefined;
  const t = l.transfers.filter((x) => x.wire_ms !== null && x.at_rate_ms !== null);
  const f = (v: number | null) => (v === null ? '–' : v.toFixed(0));
  return (
    `links: direct ${shapeText(l.direct_link)}; switch ports ${shapeText(l.switch_links)}` +
    (t.length ? `; transfer on the wire ms ${t.map((x) => `${f(x.wire_ms)} (rate allows ${f(x.at_rate_ms)})`).join(', ')}` : '')
  );
}

export function renderLinks(l: LinkSummary | null): string {
  if (!l) return '';
  const parts = [
    '<h2>Link emulation</h2>',
    `<p>Direct link (checkpoint transfer): <b>${esc(shapeText(l.direct_link))}</b>. Switch-port links: <b>${esc(shapeText(l.switch_links))}</b>. ` +
      'Applied on both ends of each veth of the local testbed (rate: tbf, delay: netem, loss: nftables); see the manifest\'s "testbed" entry.</p>',
  ];
  if (l.transfers.length)
    parts.push(
      table(
        [
          '#',
          'checkpoint (MB)',
          'transfer on the wire (ms)',
          'transfer step (ms)',
          `at ${l.direct_link.rate} (ms)`,
          'wire / rate',
        ],
        l.transfers.map((x) => [
          String(x.index),
          fmt(x.checkpoint_bytes === null ? null : x.checkpoint_bytes / 1e6, 2),
          fmt(x.wire_ms, 0),
          fmt(x.transfer_ms, 0),
          fmt(x.at_rate_ms, 0),
          fmt(x.ratio, 2),
        ]),
      ),
      `<p class="sub">"at ${esc(l.direct_link.rate)}": checkpoint bytes × 1514/1448 (Ethernet, IP and TCP headers of 1448-byte segments at MTU 1500) × 8 / DIRECT_LINK_RATE. ` +
        'On the wire: from the start of the pull to its end (transfer_wire_ms); the transfer step adds the connect and the size check.</p>',
    );
  return parts.join('\n');
}
