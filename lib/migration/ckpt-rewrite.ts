// The checkpoint edits of a migration that changes the container's address (vip mode), run on
// the target by `p4cf-net ckpt-rewrite DIR OLD_IP NEW_IP OLD_MAC NEW_MAC` on the files the target
// script extracted from the checkpoint tar into DIR:
//   - checkpoint/files.img: the established TCP sockets get the new source address
//     (criu-image.ts walks the protobuf wire format; crit needs Python modules Debian 12 lacks);
//   - config.dump and network.status (podman's container config and network state): the static
//     IP and MAC the restore asks netavark for, so the restored container has the new address on
//     eth0 before CRIU re-creates the sockets bound to it (CRIU binds the repaired sockets to
//     their source address, which must then be local).
// Values are replaced wherever they occur as a whole JSON string (an address, `address/len`, a MAC
// in either case or base64 of its bytes), so the exact field names of podman's version do not matter.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewriteSourceAddress } from './criu-image.ts';

export interface AddressChange {
  oldIp: string;
  newIp: string;
  oldMac: string;
  newMac: string;
}
export interface RewriteReport {
  sockets: number;
  config: number;
  network: number;
}

const macB64 = (mac: string) => Buffer.from(mac.split(':').map((h) => parseInt(h, 16))).toString('base64');

/** One JSON value with every occurrence of the old address/MAC replaced; counts replacements. */
export function replaceAddresses(v: unknown, ch: AddressChange, count: { n: number }): unknown {
  if (typeof v === 'string') {
    const next = replaceString(v, ch);
    if (next !== v) count.n++;
    return next;
  }
  if (Array.isArray(v)) return v.map((x) => replaceAddresses(x, ch, count));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, replaceAddresses(x, ch, count)]));
  }
  return v;
}

function replaceString(s: string, ch: AddressChange): string {
  if (s === ch.oldIp) return ch.newIp;
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(s);
  if (m && m[1] === ch.oldIp) return `${ch.newIp}/${m[2]}`;
  if (s.toLowerCase() === ch.oldMac.toLowerCase()) return ch.newMac.toLowerCase();
  if (s === macB64(ch.oldMac)) return macB64(ch.newMac);
  return s;
}

function rewriteJson(file: string, ch: AddressChange): number {
  const count = { n: 0 };
  const next = replaceAddresses(JSON.parse(readFileSync(file, 'utf8')), ch, count);
  if (count.n) writeFileSync(file, JSON.stringify(next));
  return count.n;
}

/** Rewrites the extracted checkpoint files in `dir`; throws when the restore would keep the old address. */
export function rewriteCheckpointDir(dir: string, ch: AddressChange): RewriteReport {
  const files = join(dir, 'checkpoint', 'files.img');
  const config = join(dir, 'config.dump');
  const network = join(dir, 'network.status');
  if (!existsSync(files)) throw new Error(`${files} is missing: not an extracted podman checkpoint`);
  if (!existsSync(config)) throw new Error(`${config} is missing: not an extracted podman checkpoint`);
  const r = rewriteSourceAddress(readFileSync(files), ch.oldIp, ch.newIp);
  if (r.changed) writeFileSync(files, r.image);
  const report = {
    sockets: r.changed,
    config: rewriteJson(config, ch),
    network: existsSync(network) ? rewriteJson(network, ch) : 0,
  };
  if (!report.config) {
    throw new Error(
      `config.dump names neither ${ch.oldIp} nor ${ch.oldMac}: the restore would not take ${ch.newIp} (container not started with --ip/--mac-address?)`,
    );
  }
  return report;
}
