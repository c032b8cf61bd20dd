// Editing members of a checkpoint archive without unpacking it (lib/migration/ckpt-tar.ts, the
// vip-mode rewrite): archives written by GNU tar in its formats (gnu, ustar, pax; long names,
// ./ prefixes, a member bigger than a block), checked by GNU tar reading them back.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replaceMembers, TarError, tarMembers } from '../lib/migration/ckpt-tar.ts';
import { rewriteCheckpointTar } from '../lib/migration/ckpt-rewrite.ts';
import { encodeFields, FILES_MAGIC, inetSockets, ipv4Word, writeImage } from '../lib/migration/criu-image.ts';

const tmp = mkdtempSync(join(tmpdir(), 'p4cf-tar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// over 100 characters: a GNU long-name record, a PAX path, or ustar's prefix field, by format
const LONG = `checkpoint/${'d'.repeat(80)}/${'e'.repeat(40)}.img`;
const pages = Buffer.alloc(70_000, 7); // several blocks, not a multiple of 512

function tree(name: string): string {
  const d = join(tmp, name);
  mkdirSync(join(d, 'checkpoint'), { recursive: true });
  writeFileSync(join(d, 'config.dump'), '{\n  "static_ips": [\n    "192.168.12.2"\n  ]\n}\n');
  writeFileSync(join(d, 'checkpoint', 'pages-1.img'), pages);
  writeFileSync(join(d, 'checkpoint', 'files.img'), 'files-img-v1');
  mkdirSync(join(d, LONG, '..'), { recursive: true });
  writeFileSync(join(d, LONG), 'long name');
  writeFileSync(join(d, 'network.status'), '{"ipnet":"192.168.12.2/24"}');
  return d;
}
const tarOf = (name: string, format: string, dotSlash = false) => {
  const d = tree(name);
  const file = join(tmp, `${name}.tar`);
  execFileSync('tar', [
    `--format=${format}`,
    '-C',
    d,
    '-cf',
    file,
    ...(dotSlash ? ['.'] : ['config.dump', 'checkpoint', 'network.status']),
  ]);
  return file;
};
const member = (tar: string, name: string) => execFileSync('tar', ['-xOf', tar, name]);
const names = (tar: string) => execFileSync('tar', ['-tf', tar], { encoding: 'utf8' }).trim().split('\n');

describe('tar members', () => {
  for (const format of ['gnu', 'ustar', 'pax'])
    it(`finds every member of a ${format} archive, long names too`, () => {
      const tar = tarOf(`list-${format}`, format);
      const fd = openSync(tar, 'r');
      try {
        const { members } = tarMembers(fd);
        expect(members.map((m) => m.name).filter((n) => !n.endsWith('/'))).toEqual(names(tar).filter((n) => !n.endsWith('/')));
        expect(members.find((m) => m.name === 'checkpoint/pages-1.img')?.size).toBe(pages.length);
        expect(members.some((m) => m.name === LONG)).toBe(true);
      } finally {
        closeSync(fd);
      }
    });

  it('an edit of the same length is written over the member: size and every other member unchanged', () => {
    const tar = tarOf('same', 'gnu', true);
    const before = readFileSync(tar);
    expect(
      replaceMembers(tar, new Map([['config.dump', Buffer.from(member(tar, './config.dump').toString().replace('.2"', '.3"'))]])),
    ).toBe('in-place');
    const after = readFileSync(tar);
    expect(after.length).toBe(before.length);
    expect(member(tar, './config.dump').toString()).toContain('"192.168.12.3"');
    expect(member(tar, './checkpoint/pages-1.img').equals(pages)).toBe(true);
    // only the member's data bytes differ
    const diff = [...after.keys()].filter((i) => after[i] !== before[i]);
    expect(diff).toHaveLength(1);
  });

  it('an edit of another length writes the archive anew, which tar reads with the same members in order', () => {
    const tar = tarOf('resize', 'pax');
    chmodSync(tar, 0o600);
    const list = names(tar);
    const grown = Buffer.from('files-img-v2, longer than before, and longer than one block: '.padEnd(700, 'x'));
    expect(
      replaceMembers(
        tar,
        new Map([
          ['checkpoint/files.img', grown],
          ['network.status', Buffer.from('{"ipnet":"192.168.12.22/24"}')],
        ]),
      ),
    ).toBe('rewritten');
    expect(names(tar)).toEqual(list);
    expect(member(tar, 'checkpoint/files.img').equals(grown)).toBe(true);
    expect(member(tar, 'network.status').toString()).toBe('{"ipnet":"192.168.12.22/24"}');
    expect(member(tar, LONG).toString()).toBe('long name');
    expect(member(tar, 'checkpoint/pages-1.img').equals(pages)).toBe(true);
    expect(statSync(tar).size % 512).toBe(0);
    expect(statSync(tar).mode & 0o777).toBe(0o600);
  });

  it('refuses a member it does not have and an archive that is not one', () => {
    const tar = tarOf('bad', 'gnu');
    expect(() => replaceMembers(tar, new Map([['nope.img', Buffer.from('x')]]))).toThrow(/has no member nope\.img/);
    const junk = join(tmp, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(2048, 1));
    expect(() => replaceMembers(junk, new Map([['config.dump', Buffer.from('x')]]))).toThrow(TarError);
    const cut = join(tmp, 'cut.tar');
    writeFileSync(cut, readFileSync(tar).subarray(0, 2048));
    expect(() => replaceMembers(cut, new Map([['config.dump', Buffer.from('x')]]))).toThrow(/claims \d+ bytes|cut short/);
  });
});

describe('the vip-mode rewrite on an archive', () => {
  const v = (no: number, value: bigint | number) => ({ no, wire: 0, value: BigInt(value) });
  const sock = (src: string) =>
    encodeFields([
      v(1, 2),
      {
        no: 4,
        wire: 2,
        value: encodeFields([v(3, 2), v(7, 8080), v(8, 40000), v(11, ipv4Word(src)), v(12, ipv4Word('192.168.12.100'))]),
      },
    ]);
  function checkpoint(name: string): string {
    const d = join(tmp, name);
    mkdirSync(join(d, 'checkpoint'), { recursive: true });
    writeFileSync(join(d, 'checkpoint', 'files.img'), writeImage({ magic: FILES_MAGIC, entries: [sock('192.168.12.2')] }));
    writeFileSync(join(d, 'checkpoint', 'pages-1.img'), pages);
    writeFileSync(
      join(d, 'config.dump'),
      JSON.stringify({ static_ips: ['192.168.12.2'], static_mac: '02:42:c0:a8:0c:02' }, null, 2),
    );
    writeFileSync(join(d, 'network.status'), JSON.stringify({ ipnet: '192.168.12.2/24', mac_address: 'AkLAqAwC' }));
    const tar = join(tmp, `${name}.tar`);
    execFileSync('tar', ['-C', d, '-cf', tar, 'config.dump', 'network.status', 'checkpoint']);
    return tar;
  }
  it('same-length addresses: in place; the new address everywhere, the JSON text otherwise as written', () => {
    const tar = checkpoint('vip-a');
    const size = statSync(tar).size;
    const r = rewriteCheckpointTar(tar, {
      oldIp: '192.168.12.2',
      newIp: '192.168.12.3',
      oldMac: '02:42:c0:a8:0c:02',
      newMac: '02:42:c0:a8:0c:03',
    });
    expect(r).toEqual({ sockets: 1, config: 2, network: 2, tar: 'in-place' });
    expect(statSync(tar).size).toBe(size);
    expect(inetSockets(member(tar, 'checkpoint/files.img'))[0].srcAddr).toBe('192.168.12.3');
    expect(member(tar, 'config.dump').toString()).toBe(
      JSON.stringify({ static_ips: ['192.168.12.3'], static_mac: '02:42:c0:a8:0c:03' }, null, 2),
    );
  });
  it('an address of another width (.2 → .22: a longer varint and string): the archive is written anew', () => {
    const tar = checkpoint('vip-b');
    const r = rewriteCheckpointTar(tar, {
      oldIp: '192.168.12.2',
      newIp: '192.168.12.22',
      oldMac: '02:42:c0:a8:0c:02',
      newMac: '02:42:c0:a8:0c:16',
    });
    expect(r).toMatchObject({ sockets: 1, config: 2, network: 2, tar: 'rewritten' });
    expect(inetSockets(member(tar, 'checkpoint/files.img'))[0].srcAddr).toBe('192.168.12.22');
    expect(JSON.parse(member(tar, 'network.status').toString())).toEqual({ ipnet: '192.168.12.22/24', mac_address: 'AkLAqAwW' });
    expect(member(tar, 'checkpoint/pages-1.img').equals(pages)).toBe(true);
  });
});
