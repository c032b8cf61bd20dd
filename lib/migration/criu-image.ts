// Rewriting socket addresses inside a CRIU checkpoint, for migrations that change the container's
// IP (VIP mode): the established TCP sockets were dumped with the old backend address as their
// source and must be restored with the new one. The original P4ContainerFlow did this with CRIU's
// `crit` (decode files.img to JSON, edit src_addr of the INETSK entries, encode). crit is Python
// with generated protobuf modules that Debian 12 does not package for CRIU 4.2; instead this module
// walks the protobuf wire format itself and re-encodes only the fields it changes, so every other
// byte of the image stays as CRIU wrote it.
//
// Facts of the format (CRIU 4.2 sources: criu/image.c, criu/protobuf.c, images/fdinfo.proto,
// images/sk-inet.proto), relied on here:
//   - an image starts with two little-endian u32: IMG_COMMON_MAGIC 0x54564319, then the image's
//     own magic (files.img: FILES_MAGIC 0x56303138);
//   - then entries, each a little-endian u32 byte length followed by one protobuf message;
//   - files.img entries are file_entry: field 1 type (enum; 2 = INETSK), field 4 isk (inet_sk_entry);
//   - inet_sk_entry: field 3 family (2 = AF_INET), 7 src_port, 8 dst_port, 11 src_addr and
//     12 dst_addr (repeated uint32, not packed: one varint per 32-bit word; an IPv4 address is one
//     word holding the address bytes in network order, i.e. read as a little-endian u32).

export const IMG_COMMON_MAGIC = 0x54564319;
export const FILES_MAGIC = 0x56303138;
const FILE_ENTRY_ISK = 4;
const ISK_FAMILY = 3;
const ISK_SRC_PORT = 7;
const ISK_DST_PORT = 8;
const ISK_SRC_ADDR = 11;
const ISK_DST_ADDR = 12;
const AF_INET = 2;

export class CriuImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CriuImageError';
  }
}

// ---- protobuf wire format ------------------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  value: bigint | Buffer;
}

function readVarint(b: Buffer, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (let i = pos; i < b.length && i < pos + 10; i++) {
    v |= BigInt(b[i] & 0x7f) << shift;
    if (!(b[i] & 0x80)) return [v, i + 1];
    shift += 7n;
  }
  throw new CriuImageError(`truncated varint at byte ${pos}`);
}

function writeVarint(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}

/** The fields of one message in order (unknown ones kept as they are). */
export function decodeFields(b: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const [key, p1] = readVarint(b, pos);
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(b, p1);
      out.push({ no, wire, value: v });
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = readVarint(b, p1);
      const end = p2 + Number(len);
      if (end > b.length) throw new CriuImageError(`field ${no}: length ${len} runs past the message end`);
      out.push({ no, wire, value: b.subarray(p2, end) });
      pos = end;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (p1 + n > b.length) throw new CriuImageError(`field ${no}: truncated fixed${n * 8}`);
      out.push({ no, wire, value: b.subarray(p1, p1 + n) });
      pos = p1 + n;
    } else throw new CriuImageError(`field ${no}: unsupported wire type ${wire}`);
  }
  return out;
}

export function encodeFields(fields: Field[]): Buffer {
  return Buffer.concat(
    fields.flatMap((f) => {
      const key = writeVarint((BigInt(f.no) << 3n) | BigInt(f.wire));
      if (f.wire === 0) return [key, writeVarint(f.value as bigint)];
      if (f.wire === 2) return [key, writeVarint(BigInt((f.value as Buffer).length)), f.value as Buffer];
      return [key, f.value as Buffer];
    }),
  );
}

// ---- image files ---------------------------------------------------------------------------

export interface CriuImage {
  magic: number;
  entries: Buffer[];
}

export function readImage(b: Buffer, expectMagic?: number): CriuImage {
  if (b.length < 8) throw new CriuImageError(`image of ${b.length} bytes has no header`);
  if (b.readUInt32LE(0) !== IMG_COMMON_MAGIC)
    throw new CriuImageError(
      `not a CRIU image: head magic 0x${b.readUInt32LE(0).toString(16)}, expected 0x${IMG_COMMON_MAGIC.toString(16)}`,
    );
  const magic = b.readUInt32LE(4);
  if (expectMagic !== undefined && magic !== expectMagic)
    throw new CriuImageError(`image magic 0x${magic.toString(16)}, expected 0x${expectMagic.toString(16)}`);
  const entries: Buffer[] = [];
  let pos = 8;
  while (pos < b.length) {
    if (pos + 4 > b.length) throw new CriuImageError(`truncated entry size at byte ${pos}`);
    const size = b.readUInt32LE(pos);
    if (pos + 4 + size > b.length)
      throw new CriuImageError(`entry at byte ${pos} claims ${size} bytes, ${b.length - pos - 4} left`);
    entries.push(b.subarray(pos + 4, pos + 4 + size));
    pos += 4 + size;
  }
  return { magic, entries };
}

export function writeImage(img: CriuImage): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(IMG_COMMON_MAGIC, 0);
  head.writeUInt32LE(img.magic, 4);
  return Buffer.concat([
    head,
    ...img.entries.flatMap((e) => {
      const n = Buffer.alloc(4);
      n.writeUInt32LE(e.length);
      return [n, e];
    }),
  ]);
}

// ---- inet sockets --------------------------------------------------------------------------

/** 192.168.12.2 → the u32 CRIU stores (address bytes in network order, read little-endian). */
export function ipv4Word(ip: string): bigint {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new CriuImageError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return BigInt(Buffer.from(parts).readUInt32LE(0));
}

export function wordIpv4(w: bigint): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(Number(w));
  return [...b].join('.');
}

export interface InetSocket {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

function iskOf(entry: Buffer): Field[] | undefined {
  const isk = decodeFields(entry).find((f) => f.no === FILE_ENTRY_ISK && f.wire === 2);
  if (!isk) return undefined;
  const fields = decodeFields(isk.value as Buffer);
  return fields.some((f) => f.no === ISK_FAMILY && f.value === BigInt(AF_INET)) ? fields : undefined;
}

/** The IPv4 sockets of a files.img (listening ones have 0.0.0.0 or no peer). */
export function inetSockets(filesImg: Buffer): InetSocket[] {
  const out: InetSocket[] = [];
  for (const e of readImage(filesImg, FILES_MAGIC).entries) {
    const f = iskOf(e);
    if (!f) continue;
    const num = (no: number) => f.find((x) => x.no === no)?.value as bigint | undefined;
    out.push({
      srcAddr: wordIpv4(num(ISK_SRC_ADDR) ?? 0n),
      srcPort: Number(num(ISK_SRC_PORT) ?? 0n),
      dstAddr: wordIpv4(num(ISK_DST_ADDR) ?? 0n),
      dstPort: Number(num(ISK_DST_PORT) ?? 0n),
    });
  }
  return out;
}

/**
 * files.img with every IPv4 socket whose source address is `from` given `to` instead (the
 * backend's own address; peers and listening sockets on 0.0.0.0 are left alone). Returns the new
 * image and how many sockets changed.
 */
export function rewriteSourceAddress(filesImg: Buffer, from: string, to: string): { image: Buffer; changed: number } {
  const img = readImage(filesImg, FILES_MAGIC);
  const fromW = ipv4Word(from);
  const toW = ipv4Word(to);
  let changed = 0;
  const entries = img.entries.map((e) => {
    const top = decodeFields(e);
    let touched = false;
    const next = top.map((f) => {
      if (f.no !== FILE_ENTRY_ISK || f.wire !== 2) return f;
      const isk = decodeFields(f.value as Buffer);
      if (!isk.some((x) => x.no === ISK_FAMILY && x.value === BigInt(AF_INET))) return f;
      if (!isk.some((x) => x.no === ISK_SRC_ADDR && x.value === fromW)) return f;
      touched = true;
      return {
        ...f,
        value: encodeFields(isk.map((x) => (x.no === ISK_SRC_ADDR && x.value === fromW ? { ...x, value: toW } : x))),
      };
    });
    if (!touched) return e;
    changed++;
    return encodeFields(next);
  });
  return { image: writeImage({ magic: img.magic, entries }), changed };
}
