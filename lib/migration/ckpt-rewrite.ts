// The checkpoint edits of a migration that changes the container's address (vip mode), run on
// the target by `p4cf-net ckpt-rewrite TAR|DIR OLD_IP NEW_IP OLD_MAC NEW_MAC` on podman's exported
// checkpoint archive (its members edited where they lie, ckpt-tar.ts) or an extracted one:
//   - checkpoint/files.img: the established TCP sockets get the new source address
//     (criu-image.ts walks the protobuf wire format; crit needs Python modules Debian 12 lacks);
//   - config.dump and network.status (podman's container config and network state): the static
//     IP and MAC the restore asks netavark for, so the restored container has the new address on
//     eth0 before CRIU re-creates the sockets bound to it (CRIU binds the repaired sockets to
//     their source address, which must then be local).
// Values are replaced wherever they occur as a whole JSON string value (an address, `address/len`,
// a MAC in either case or base64 of its bytes), so the exact field names of podman's version do
// not matter; the rest of the JSON text stays as podman wrote it.
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rewriteSourceAddress } from './criu-image.ts';
import { readMember, replaceMembers, tarMembers } from './ckpt-tar.ts';

/** The members of podman's exported checkpoint that carry the container's address. */
const FILES_IMG = 'checkpoint/files.img';
const CONFIG_DUMP = 'config.dump';
const NETWORK_STATUS = 'network.status';
export const ADDRESS_MEMBERS = [CONFIG_DUMP, NETWORK_STATUS, FILES_IMG] as const;

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

function replaceString(s: string, ch: AddressChange): string {
  if (s === ch.oldIp) return ch.newIp;
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(s);
  if (m && m[1] === ch.oldIp) return `${ch.newIp}/${m[2]}`;
  if (s.toLowerCase() === ch.oldMac.toLowerCase()) return ch.newMac.toLowerCase();
  if (s === macB64(ch.oldMac)) return macB64(ch.newMac);
  return s;
}

/**
 * JSON text with every string value (not key) that is the old address or MAC replaced; the rest
 * of the text stays byte for byte, so an address of the same length keeps the file's size (and
 * the tar member can be written over in place).
 */
export function replaceInJson(text: string, ch: AddressChange, count: { n: number }): string {
  JSON.parse(text); // refuse what is not JSON before editing it as text
  return text.replace(/"(?:[^"\\]|\\.)*"(\s*:)?/g, (tok: string, key?: string) => {
    if (key) return tok;
    const v = JSON.parse(tok) as string;
    const next = replaceString(v, ch);
    if (next === v) return tok;
    count.n++;
    return JSON.stringify(next);
  });
}

export interface CheckpointFiles {
  filesImg: Buffer;
  config: string;
  network?: string;
}

/** The three members with the new address; throws when the restore would keep the old one. */
export function rewriteCheckpointFiles(f: CheckpointFiles, ch: AddressChange): { files: CheckpointFiles; report: RewriteReport } {
  const r = rewriteSourceAddress(f.filesImg, ch.oldIp, ch.newIp);
  const config = { n: 0 };
  const network = { n: 0 };
  const files = {
    filesImg: r.changed ? r.image : f.filesImg,
    config: replaceInJson(f.config, ch, config),
    network: f.network === undefined ? undefined : replaceInJson(f.network, ch, network),
  };
  if (!config.n) {
    throw new Error(
      `config.dump names neither ${ch.oldIp} nor ${ch.oldMac}: the restore would not take ${ch.newIp} (container not started with --ip/--mac-address?)`,
    );
  }
  return { files, report: { sockets: r.changed, config: config.n, network: network.n } };
}

/** Rewrites the extracted checkpoint files in `dir`. */
export function rewriteCheckpointDir(dir: string, ch: AddressChange): RewriteReport {
  const files = join(dir, 'checkpoint', 'files.img');
  const config = join(dir, 'config.dump');
  const network = join(dir, 'network.status');
  if (!existsSync(files)) throw new Error(`${files} is missing: not an extracted podman checkpoint`);
  if (!existsSync(config)) throw new Error(`${config} is missing: not an extracted podman checkpoint`);
  const { files: out, report } = rewriteCheckpointFiles(
    {
      filesImg: readFileSync(files),
      config: readFileSync(config, 'utf8'),
      network: existsSync(network) ? readFileSync(network, 'utf8') : undefined,
    },
    ch,
  );
  if (report.sockets) writeFileSync(files, out.filesImg);
  writeFileSync(config, out.config);
  if (out.network !== undefined && report.network) writeFileSync(network, out.network);
  return report;
}

/**
 * Rewrites the members of podman's checkpoint archive `tar` without unpacking it (ckpt-tar.ts):
 * in place when every edit keeps its length, else by writing the archive once more.
 */
export function rewriteCheckpointTar(tar: string, ch: AddressChange): RewriteReport & { tar: 'in-place' | 'rewritten' } {
  const fd = openSync(tar, 'r');
  let read: CheckpointFiles;
  try {
    const { members } = tarMembers(fd);
    const member = (name: string) => members.find((m) => m.name === name);
    const files = member(FILES_IMG);
    const config = member(CONFIG_DUMP);
    const network = member(NETWORK_STATUS);
    if (!files) throw new Error(`${tar} has no ${FILES_IMG}: not a podman checkpoint archive`);
    if (!config) throw new Error(`${tar} has no ${CONFIG_DUMP}: not a podman checkpoint archive`);
    read = {
      filesImg: readMember(fd, files),
      config: readMember(fd, config).toString('utf8'),
      network: network ? readMember(fd, network).toString('utf8') : undefined,
    };
  } finally {
    closeSync(fd);
  }
  const { files, report } = rewriteCheckpointFiles(read, ch);
  const edits = new Map<string, Buffer>();
  if (report.sockets) edits.set(FILES_IMG, files.filesImg);
  edits.set(CONFIG_DUMP, Buffer.from(files.config));
  if (files.network !== undefined && report.network) edits.set(NETWORK_STATUS, Buffer.from(files.network));
  return { ...report, tar: replaceMembers(tar, edits) };
}
