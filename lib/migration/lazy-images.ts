// The image folder a lazy (post-copy) restore needs on the target: every image of the dump, but
// the tasks' page contents only where CRIU will not fetch them lazily. The rest stays on the source,
// where `criu page-server --lazy-pages` serves it from the full dump to the target's lazy-pages daemon.
//
// Facts of the format (CRIU 4.2: images/pagemap.proto, criu/include/pagemap.h, criu/page-xfer.c,
// criu/mem.c), relied on here:
//   - pagemap-<pid>.img (PAGEMAP_MAGIC 0x56084025) holds pagemap_head {1: pages_id} and then
//     pagemap_entry {1: vaddr, 2: compat_nr_pages, 4: flags, 5: nr_pages (when set, it wins)};
//   - pages-<pages_id>.img is raw page data: PE_PRESENT entries, in pagemap order, 4096 bytes a page;
//   - a plain dump marks every page that can be restored lazily PE_LAZY (as well as PE_PRESENT):
//     private anonymous memory except stacks, vDSO and vsyscall. A `--lazy-pages` restore skips the
//     PE_LAZY entries' bytes (it only moves its offset past them) and reads the others from the file.
// So a copy of pages-<id>.img with holes where the PE_LAZY entries are is all the restore reads; it
// keeps the file's length (the offsets stay right) and `tar -S` sends only its data.
import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { CriuImageError, decodeFields, readImage } from './criu-image.ts';

export const PAGEMAP_MAGIC = 0x56084025;
export const PE_LAZY = 1 << 1;
export const PE_PRESENT = 1 << 2;
const PAGE = 4096;

/** Byte ranges of a pages-<id>.img. */
export interface PageRange {
  offset: number;
  length: number;
}

export interface PagemapLayout {
  pagesId: number;
  /** Ranges the restore reads itself (PE_PRESENT without PE_LAZY), adjacent ones merged. */
  keep: PageRange[];
  /** Pages in the file, and how many of them the lazy-pages daemon will fetch. */
  pages: number;
  lazyPages: number;
}

const num = (fields: ReturnType<typeof decodeFields>, no: number): number | undefined => {
  const f = fields.find((x) => x.no === no && x.wire === 0);
  return f ? Number(f.value as bigint) : undefined;
};

/** Where a task pagemap's pages lie in its pages file, and which of them a lazy restore reads itself. */
export function pagemapLayout(img: Buffer): PagemapLayout {
  const { entries } = readImage(img, PAGEMAP_MAGIC);
  if (!entries.length) throw new CriuImageError('pagemap image has no pagemap_head');
  const pagesId = num(decodeFields(entries[0]), 1);
  if (pagesId === undefined) throw new CriuImageError('pagemap_head has no pages_id');
  const keep: PageRange[] = [];
  let at = 0;
  let pages = 0;
  let lazyPages = 0;
  for (const e of entries.slice(1)) {
    const f = decodeFields(e);
    const n = num(f, 5) ?? num(f, 2) ?? 0;
    const flags = num(f, 4) ?? PE_PRESENT; // images without flags predate lazy pages: all present
    if (!(flags & PE_PRESENT)) continue; // in a parent dump or a hole: no bytes here
    const length = n * PAGE;
    pages += n;
    if (flags & PE_LAZY) lazyPages += n;
    else {
      const last = keep[keep.length - 1];
      if (last && last.offset + last.length === at) last.length += length;
      else keep.push({ offset: at, length });
    }
    at += length;
  }
  return { pagesId, keep, pages, lazyPages };
}

export interface StripReport {
  files: number;
  pages: number;
  lazyPages: number;
  /** Bytes of page data kept in the copy. */
  keptBytes: number;
}

/**
 * Fills `dst` (emptied first) with the images of `src`: hard links (copies across file systems),
 * and each task's pages file as a sparse copy holding only the pages a lazy restore reads itself.
 */
export function stripLazyPages(src: string, dst: string): StripReport {
  rmSync(dst, { recursive: true, force: true });
  mkdirSync(dst, { recursive: true });
  const names = readdirSync(src);
  const sparse = new Map<string, PagemapLayout>();
  for (const n of names.filter((x) => /^pagemap-\d+\.img$/.test(x))) {
    const layout = pagemapLayout(readFileSync(join(src, n)));
    sparse.set(`pages-${layout.pagesId}.img`, layout);
  }
  const report: StripReport = { files: 0, pages: 0, lazyPages: 0, keptBytes: 0 };
  for (const n of names) {
    const from = join(src, n);
    if (!statSync(from).isFile()) continue;
    report.files++;
    const layout = sparse.get(n);
    if (!layout) {
      try {
        linkSync(from, join(dst, n));
      } catch {
        copyFileSync(from, join(dst, n));
      }
      continue;
    }
    const size = statSync(from).size;
    if (size !== layout.pages * PAGE)
      throw new CriuImageError(
        `${from} has ${size} bytes, its pagemap describes ${layout.pages} pages (${layout.pages * PAGE} bytes)`,
      );
    copyRanges(from, join(dst, n), layout.keep, size);
    report.pages += layout.pages;
    report.lazyPages += layout.lazyPages;
    report.keptBytes += layout.keep.reduce((s, r) => s + r.length, 0);
  }
  return report;
}

/** Writes `ranges` of `from` at the same offsets into a new file `to` of `size` bytes (holes elsewhere). */
function copyRanges(from: string, to: string, ranges: PageRange[], size: number): void {
  const i = openSync(from, 'r');
  const o = openSync(to, 'w');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (const r of ranges) {
      for (let done = 0; done < r.length; ) {
        const n = readSync(i, buf, 0, Math.min(buf.length, r.length - done), r.offset + done);
        if (n === 0) throw new CriuImageError(`${from}: short read at byte ${r.offset + done}`);
        writeSync(o, buf, 0, n, r.offset + done);
        done += n;
      }
    }
    // the length the offsets need; the unwritten stretches stay holes
    ftruncateSync(o, size);
  } finally {
    closeSync(i);
    closeSync(o);
  }
}
