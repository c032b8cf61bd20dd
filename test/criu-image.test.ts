// Rewriting the source address of TCP sockets in a CRIU checkpoint (VIP migration, issue 14): the
// protobuf walk on synthetic images, and on a real `criu dump` of a process with an established
// connection (root): only the backend's own address changes, every other byte stays.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CriuImageError,
  decodeFields,
  encodeFields,
  FILES_MAGIC,
  inetSockets,
  ipv4Word,
  readImage,
  rewriteSourceAddress,
  wordIpv4,
  writeImage,
} from '../lib/migration/criu-image.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { inNs, netns, sh } from './helpers/netns.ts';

const v = (no: number, value: bigint | number) => ({ no, wire: 0, value: BigInt(value) });
const msg = (no: number, fields: ReturnType<typeof v>[]) => ({ no, wire: 2, value: encodeFields(fields) });
/** A files.img entry for an IPv4 TCP socket, laid out like CRIU's file_entry{type, id, isk}. */
const inetEntry = (id: number, src: string, sport: number, dst: string, dport: number) =>
  encodeFields([
    v(1, 2),
    v(2, id),
    msg(4, [
      v(1, id),
      v(2, 1000 + id),
      v(3, 2),
      v(4, 1),
      v(5, 6),
      v(6, 1),
      v(7, sport),
      v(8, dport),
      v(9, 0),
      v(10, 0),
      v(11, ipv4Word(src)),
      v(12, ipv4Word(dst)),
    ]),
  ]);
const regEntry = encodeFields([v(1, 1), v(2, 9), { no: 3, wire: 2, value: Buffer.from('a regular file entry') }]);

describe('CRIU image format', () => {
  it('addresses are one little-endian word of the network-order bytes', () => {
    expect(ipv4Word('192.168.12.2')).toBe(0x020ca8c0n);
    expect(wordIpv4(0x020ca8c0n)).toBe('192.168.12.2');
  });
  it('read/write round-trips an image byte for byte', () => {
    const img = writeImage({
      magic: FILES_MAGIC,
      entries: [regEntry, inetEntry(1, '192.168.12.2', 8080, '192.168.12.100', 40000)],
    });
    expect(img.readUInt32LE(0)).toBe(0x54564319);
    expect(writeImage(readImage(img, FILES_MAGIC))).toEqual(img);
    expect(encodeFields(decodeFields(readImage(img).entries[1]))).toEqual(readImage(img).entries[1]);
  });
  it("rewrites the source address of the backend's sockets only; other entries keep their bytes", () => {
    const img = writeImage({
      magic: FILES_MAGIC,
      entries: [
        regEntry,
        inetEntry(1, '192.168.12.2', 8080, '192.168.12.100', 40000), // established, to the load generator
        inetEntry(2, '0.0.0.0', 8080, '0.0.0.0', 0), // listening
        inetEntry(3, '192.168.12.100', 5555, '192.168.12.2', 9), // not the backend's own address
      ],
    });
    const { image, changed } = rewriteSourceAddress(img, '192.168.12.2', '192.168.12.3');
    expect(changed).toBe(1);
    expect(inetSockets(image)).toEqual([
      { srcAddr: '192.168.12.3', srcPort: 8080, dstAddr: '192.168.12.100', dstPort: 40000 },
      { srcAddr: '0.0.0.0', srcPort: 8080, dstAddr: '0.0.0.0', dstPort: 0 },
      { srcAddr: '192.168.12.100', srcPort: 5555, dstAddr: '192.168.12.2', dstPort: 9 },
    ]);
    const before = readImage(img).entries;
    const after = readImage(image).entries;
    expect([0, 2, 3].map((i) => after[i].equals(before[i]))).toEqual([true, true, true]);
  });
  it('bad input is refused with what was found', () => {
    expect(() => readImage(Buffer.from('not an image'))).toThrow(CriuImageError);
    expect(() => readImage(writeImage({ magic: 0x1234, entries: [] }), FILES_MAGIC)).toThrow(
      /image magic 0x1234, expected 0x56303138/,
    );
    const cut = writeImage({ magic: FILES_MAGIC, entries: [regEntry] }).subarray(0, 20);
    expect(() => readImage(cut)).toThrow(/claims \d+ bytes/);
    expect(() => ipv4Word('192.168.12')).toThrow(/not an IPv4 address/);
  });
});

warnIfNotRoot('test/criu-image.test.ts (a real criu dump)');

describe.skipIf(!isRoot)('on a real criu dump', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'p4ci-'));
  const n = netns('p4ci-');
  afterAll(async () => {
    await n.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the established socket of a dumped server gets the new source address; the listener and the rest stay', async () => {
    await n.add('p4ci-s');
    await n.add('p4ci-c');
    await n.veth(
      { ns: 'p4ci-s', name: 'p4ci-vs', addr: '10.79.0.1/24' },
      { ns: 'p4ci-c', name: 'p4ci-vc', addr: '10.79.0.2/24' },
    );
    // a server with one accepted connection from the client namespace, then dumped by CRIU; its
    // output goes to a file (node's stdio pipes are unix sockets CRIU would refuse as external)
    const out = join(tmp, 'server.out');
    const fd = openSync(out, 'w');
    const server = spawn(
      'nsenter',
      [
        '--net=/run/netns/p4ci-s',
        'setsid',
        process.execPath,
        '-e',
        "require('net').createServer((c)=>{c.on('data',()=>{})}).listen(7801,'0.0.0.0',()=>console.log('up'));setInterval(()=>{},1000)",
      ],
      { stdio: ['ignore', fd, fd] },
    );
    let client: ReturnType<typeof spawn> | undefined;
    try {
      for (let i = 0; i < 100 && !readFileSync(out, 'utf8').includes('up'); i++) await new Promise((r) => setTimeout(r, 50));
      // the client only once the server listens (a refused connect would never say 'connected')
      client = spawn(
        'nsenter',
        [
          '--net=/run/netns/p4ci-c',
          process.execPath,
          '-e',
          "const c=require('net').connect(7801,'10.79.0.1',()=>console.log('connected'));c.on('error',()=>{});setTimeout(()=>process.exit(0),20000)",
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((res, rej) => {
        client!.stdout!.once('data', () => res());
        setTimeout(() => rej(new Error('client did not connect within 10 s')), 10_000);
      });
      const dir = join(tmp, 'dump');
      await sh('mkdir', ['-p', dir]);
      await inNs(
        'p4ci-s',
        'criu',
        ['dump', '-t', String(server.pid), '-D', dir, '--tcp-established', '--shell-job', '-o', 'dump.log'],
        { timeoutMs: 60_000 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${readFileSync(join(dir, 'dump.log'), 'utf8').split('\n').slice(-15).join('\n')}`);
      });
      const files = readFileSync(join(dir, 'files.img'));
      const socks = inetSockets(files);
      expect(socks).toContainEqual(expect.objectContaining({ srcAddr: '10.79.0.1', srcPort: 7801, dstAddr: '10.79.0.2' }));
      expect(socks).toContainEqual(expect.objectContaining({ srcAddr: '0.0.0.0', srcPort: 7801 }));
      const { image, changed } = rewriteSourceAddress(files, '10.79.0.1', '10.79.0.3');
      expect(changed).toBe(1);
      const after = inetSockets(image);
      expect(after).toContainEqual(expect.objectContaining({ srcAddr: '10.79.0.3', srcPort: 7801, dstAddr: '10.79.0.2' }));
      expect(after.filter((s) => s.srcAddr === '10.79.0.1')).toEqual([]);
      expect(image.length - files.length).toBe(0); // same varint width for these addresses: same size
      expect(readdirSync(dir).some((f) => f.startsWith('tcp-stream-'))).toBe(true);
    } finally {
      server.kill('SIGKILL');
      client?.kill('SIGKILL');
    }
  });
});
