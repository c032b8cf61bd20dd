// vega-lite spec → SVG (vega, headless) → PNG (resvg). No drawing code of our own.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export const FONT_FAMILY = 'DejaVu Sans';
const FONT_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/dejavu', '/usr/share/fonts/TTF'];

/** DejaVu Sans files, found once; when absent resvg falls back to the system fonts. */
let fontFiles: string[] | null = null;
function findFonts(): string[] {
  if (fontFiles) return fontFiles;
  fontFiles = [];
  for (const d of FONT_DIRS) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (/^DejaVuSans(-Bold)?\.ttf$/.test(f)) fontFiles.push(join(d, f));
    if (fontFiles.length) break;
  }
  return fontFiles;
}

/** Shared look: the font resvg can load, white background, readable sizes. */
export const BASE_CONFIG = {
  font: FONT_FAMILY,
  background: 'white',
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' },
} as const;

export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec;
  const compiled = vl.compile(withConfig).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const fonts = findFonts();
  const resvg = new Resvg(svg, {
    font: fonts.length
      ? { fontFiles: fonts, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY }
      : { loadSystemFonts: true },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    logLevel: 'off',
  });
  return resvg.render().asPng();
}
