// The lazy engine's image copy (lib/migration/lazy-images.ts): from a task's pagemap, which bytes of
// its pages file a lazy restore reads itself (PE_PRESENT without PE_LAZY), and a sparse copy holding
// only those at their offsets. The images here are written in CRIU's format by the same wire-format
// helpers the rewrite of files.img uses; a real dump's copy restores in test/e2e-engines.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeFields, writeImage } from '../lib/migration/criu-image.ts';
import { PAGEMAP_MAGIC, PE_LAZY, PE_PRESENT, pagemapLayout, stripLazyPages } from '../lib/migration/lazy-images.ts';

const PAGE = 4096;
const PE_PARENT = 1;
const v = (no: number, value: number | bigint) => ({ no, wire: 0, value: BigInt(value) });
const pagemap = (pagesId: number, entries: [number, number][]) =>
  writeImage({
    magic: PAGEMAP_MAGIC,
    entries: [
      encodeFields([v(1, pagesId)]),
      ...entries.map(([nr, flags], i) => encodeFields([v(1, 0x7f0000000000n + BigInt(i) * 0x100000n), v(2, nr), v(4, flags)])),
    ],
  });
/** `n` pages, page k filled with byte k+1. */
const pages = (n: number) => Buffer.concat(Array.from({ length: n }, (_, k) => Buffer.alloc(PAGE, k + 1)));

const tmp = mkdtempSync(join(tmpdir(), 'p4cf-lazyimg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('pagemap layout', () => {
  it('keeps the non-lazy present pages at their offsets; lazy ones are left to the daemon, parent ones take no bytes', () => {
    // 2 stack pages, 3 lazy heap pages, 1 page in a parent dump, 1 more non-lazy page
    const img = pagemap(7, [
      [2, PE_PRESENT],
      [3, PE_PRESENT | PE_LAZY],
      [1, PE_PARENT],
      [1, PE_PRESENT],
    ]);
    expect(pagemapLayout(img)).toEqual({
      pagesId: 7,
      keep: [
        { offset: 0, length: 2 * PAGE },
        { offset: 5 * PAGE, length: PAGE },
      ],
      pages: 6,
      lazyPages: 3,
    });
  });
  it('merges adjacent kept entries and refuses what is not a pagemap', () => {
    const l = pagemapLayout(
      pagemap(1, [
        [1, PE_PRESENT],
        [2, PE_PRESENT],
      ]),
    );
    expect(l.keep).toEqual([{ offset: 0, length: 3 * PAGE }]);
    expect(() => pagemapLayout(writeImage({ magic: 0x12345678, entries: [] }))).toThrow(/magic 0x12345678/);
  });
});

describe('stripLazyPages', () => {
  it('copies every image, and the pages file sparse with only what the restore reads', () => {
    const src = join(tmp, 'full');
    const dst = join(tmp, 'lazy');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    writeFileSync(
      join(src, 'pagemap-42.img'),
      pagemap(1, [
        [2, PE_PRESENT],
        [300, PE_PRESENT | PE_LAZY],
        [1, PE_PRESENT],
      ]),
    );
    const full = pages(303);
    writeFileSync(join(src, 'pages-1.img'), full);
    writeFileSync(join(src, 'core-42.img'), 'core');
    const r = stripLazyPages(src, dst);
    expect(r).toEqual({ files: 3, pages: 303, lazyPages: 300, keptBytes: 3 * PAGE });
    const out = readFileSync(join(dst, 'pages-1.img'));
    expect(out.length).toBe(full.length);
    expect(out.subarray(0, 2 * PAGE).equals(full.subarray(0, 2 * PAGE))).toBe(true);
    expect(out.subarray(2 * PAGE, 302 * PAGE).every((b) => b === 0)).toBe(true);
    expect(out.subarray(302 * PAGE).equals(full.subarray(302 * PAGE))).toBe(true);
    // holes: far fewer blocks than the 1.2 MB the file spans
    expect(statSync(join(dst, 'pages-1.img')).blocks * 512).toBeLessThan(64 * PAGE);
    // the other images are the same files (hard links)
    expect(statSync(join(dst, 'core-42.img')).ino).toBe(statSync(join(src, 'core-42.img')).ino);
  });
  it('refuses a pages file whose length does not match its pagemap', () => {
    const src = join(tmp, 'short');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'pagemap-1.img'), pagemap(2, [[4, PE_PRESENT | PE_LAZY]]));
    writeFileSync(join(src, 'pages-2.img'), pages(3));
    expect(() => stripLazyPages(src, join(tmp, 'short-out'))).toThrow(/12288 bytes, its pagemap describes 4 pages/);
  });
});
