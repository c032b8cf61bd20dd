// Editing a few small members of podman's checkpoint tar without unpacking it. The vip-mode
// rewrite changes three members of a few KB (config.dump, network.status, checkpoint/files.img)
// in an archive whose size is the container's memory; unpacking and packing it again cost a
// copy of all of it inside the downtime. Instead the archive's headers are walked (seeking past
// the data), the members are read where they lie, and
//   - an edit of the same length is written over the old bytes (the header, its checksum
//     included, covers name, size and mode only, so it stays valid);
//   - otherwise the archive is written once more, member by member, with the edited members'
//     headers given the new size (and checksum), and renamed over the old one.
// Formats read: ustar/GNU headers (what Go's archive/tar, podman's writer, and GNU tar write),
// with PAX ('x') and GNU long-name ('L') records before a member; base-256 sizes.
import { closeSync, fstatSync, openSync, readSync, renameSync, writeSync } from 'node:fs';

const BLOCK = 512;

export class TarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarError';
  }
}

export interface TarMember {
  name: string;
  /** Offset of its first header (a PAX or long-name record, or its own). */
  start: number;
  /** Offset of its own header. */
  header: number;
  data: number;
  size: number;
  /** Offset after its data and padding. */
  end: number;
  /** Its size came from a PAX record (the header's size field is not the size). */
  paxSize: boolean;
}

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) throw new TarError(`archive ends inside a member (byte ${pos + got}, ${len - got} bytes short)`);
    got += n;
  }
  return b;
}

function num(h: Buffer, off: number, len: number): number {
  if (h[off] & 0x80) {
    // base-256 (GNU, Go): big-endian after the marker bit
    let v = h[off] & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + h[i];
    return v;
  }
  const s = h
    .toString('latin1', off, off + len)
    .replace(/\0.*$/s, '')
    .trim();
  return s ? Number.parseInt(s, 8) : 0;
}

const cstr = (b: Buffer, off: number, len: number): string => {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return s.toString('utf8', 0, z < 0 ? len : z);
};

/** The header checksum (unsigned bytes, the checksum field as spaces); `signed`: as some old writers summed. */
const checksum = (h: Buffer, signed = false): number => {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : signed ? (h[i] << 24) >> 24 : h[i];
  return sum;
};

function paxRecords(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const sp = body.indexOf(0x20, pos);
    const len = Number(body.toString('latin1', pos, sp));
    if (sp < 0 || !Number.isInteger(len) || len <= 0) throw new TarError(`malformed PAX record at byte ${pos} of its header`);
    const rec = body.toString('utf8', sp + 1, pos + len - 1);
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    pos += len;
  }
  return out;
}

/** The members of the archive open on `fd`, in order, and where the end-of-archive blocks start. */
export function tarMembers(fd: number): { members: TarMember[]; end: number } {
  const total = fstatSync(fd).size;
  const members: TarMember[] = [];
  let pos = 0;
  let start = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + BLOCK <= total) {
    const h = readAt(fd, pos, BLOCK);
    if (h.every((b) => b === 0)) return { members, end: pos };
    const sum = num(h, 148, 8);
    if (checksum(h) !== sum && checksum(h, true) !== sum)
      throw new TarError(`bad header checksum at byte ${pos}: not a tar archive, or damaged`);
    const type = String.fromCharCode(h[156] || 0x30);
    const size = num(h, 124, 12);
    const data = pos + BLOCK;
    if (data + size > total) throw new TarError(`member at byte ${pos} claims ${size} bytes, ${total - data} left`);
    if (type === 'x') pax = { ...pax, ...paxRecords(readAt(fd, data, size)) };
    else if (type === 'L') longName = cstr(readAt(fd, data, size), 0, size);
    else if (type !== 'g') {
      const prefix = h.toString('latin1', 257, 262) === 'ustar' ? cstr(h, 345, 155) : '';
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      const realSize = pax.size !== undefined ? Number(pax.size) : size;
      members.push({
        name: name.replace(/^\.\//, ''),
        start,
        header: pos,
        data,
        size: realSize,
        end: data + padded(realSize),
        paxSize: pax.size !== undefined,
      });
      pos = data + padded(realSize);
      start = pos;
      longName = undefined;
      pax = {};
      continue;
    }
    pos = data + padded(size);
  }
  throw new TarError(`no end-of-archive blocks after byte ${pos} of ${total}: the archive is cut short`);
}

export function readMember(fd: number, m: TarMember): Buffer {
  return readAt(fd, m.data, m.size);
}

/** The member's own header with a new size (octal, as ustar writes it) and its checksum. */
function resized(h: Buffer, size: number): Buffer {
  const out = Buffer.from(h);
  out.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  out.write(`${checksum(out).toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return out;
}

/**
 * Replace the contents of the members named in `edits`. Returns 'in-place' when every edit kept
 * its member's length (written over it), 'rewritten' when the archive was written anew.
 */
export function replaceMembers(path: string, edits: ReadonlyMap<string, Buffer>): 'in-place' | 'rewritten' {
  const fd = openSync(path, 'r+');
  try {
    const { members, end } = tarMembers(fd);
    const edited = members.filter((m) => edits.has(m.name));
    const missing = [...edits.keys()].filter((n) => !edited.some((m) => m.name === n));
    if (missing.length) throw new TarError(`${path} has no member ${missing.join(', ')}`);
    if (edited.every((m) => edits.get(m.name)!.length === m.size)) {
      for (const m of edited) writeSync(fd, edits.get(m.name)!, 0, m.size, m.data);
      return 'in-place';
    }
    const big = edited.find((m) => m.paxSize && edits.get(m.name)!.length !== m.size);
    if (big) throw new TarError(`${path}: member ${big.name} has its size in a PAX record; cannot resize it`);
    const tmp = `${path}.p4cf-rewrite`;
    const out = openSync(tmp, 'w', fstatSync(fd).mode & 0o7777);
    try {
      const copy = (from: number, to: number) => {
        for (let p = from; p < to; p += 1 << 20) writeSync(out, readAt(fd, p, Math.min(1 << 20, to - p)));
      };
      let at = 0;
      for (const m of edited) {
        const body = edits.get(m.name)!;
        copy(at, m.header);
        writeSync(out, resized(readAt(fd, m.header, BLOCK), body.length));
        writeSync(out, Buffer.concat([body, Buffer.alloc(padded(body.length) - body.length)]));
        at = m.end;
      }
      copy(at, end);
      writeSync(out, Buffer.alloc(2 * BLOCK));
    } finally {
      closeSync(out);
    }
    renameSync(tmp, path);
    return 'rewritten';
  } finally {
    closeSync(fd);
  }
}
