// report.html of one run: self-contained (plots inline as data: URIs, inline CSS, no scripts).
import type { RunData } from './load.ts';
import { DESCRIBE_HEAD, describeCells, esc, fmt, page, svgDataUri, table, valueHtml } from './html.ts';
import { renderLinks } from './links.ts';
import { renderMode } from './mode.ts';
import { PUBLISHED } from './published.ts';
import type { Summary } from './summary.ts';

export interface RenderedPlot {
  name: string;
  title: string;
  svg?: string;
  pngFile?: string;
  skip?: string;
}

const PHASE_ROWS: Array<[keyof Summary['phases_ms'], string]> = [
  ['checkpoint_ms', 'checkpoint (quiesce + drain + dump)'],
  ['transfer_ms', 'transfer'],
  ['restore_ms', 'restore (incl. network fix-up)'],
  ['switch_ms', 'switch update'],
  ['total_ms', 'total'],
  ['pre_transfer_ms', 'pre transfer'],
  ['post_transfer_ms', 'post transfer'],
  ['pre_restore_ms', 'pre restore'],
  ['post_switch_ms', 'post switch'],
  ['source_stop_ms', 'source stop'],
];

export function renderReport(run: RunData, s: Summary, plots: RenderedPlot[]): string {
  const pub = PUBLISHED;
  const parts: string[] = [];
  parts.push(
    `<h1>Run ${esc(s.run.name)}</h1><p class="sub">${esc(s.run.format === 'bash' ? 'published bash version run folder' : 'p4cf run folder')}` +
      ` · ${esc(s.run.dir)} · ${s.run.migrations} migration(s) · ${s.run.metrics_rows} metrics rows` +
      `${s.run.duration_s !== null ? ` over ${fmt(s.run.duration_s, 0)} s` : ''} · analysed ${esc(new Date().toISOString())}</p>`,
  );

  parts.push(renderMode(s.mode));
  if (s.notes.length) parts.push(`<h2>Notes</h2><ul class="notes">${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);

  parts.push('<h2>Client-visible downtime (time to ready)</h2>');
  parts.push(
    table(
      ['', ...DESCRIBE_HEAD],
      [
        ['this run (ms)', ...describeCells(s.downtime_ms)],
        [
          'published hardware (ms)',
          '20',
          fmt(pub.downtime_ms.mean, 0),
          fmt(pub.downtime_ms.sd, 0),
          fmt(pub.downtime_ms.p50, 0),
          '–',
          '–',
          '–',
          fmt(pub.downtime_ms.max, 0),
        ],
      ],
    ),
  );
  parts.push(
    `<p class="sub">${esc(s.downtime_source)}. Percentiles: linear interpolation between closest ranks (R-7). sd: sample sd.</p>`,
  );

  if (s.workload) {
    const l = s.workload.lossless;
    parts.push(`<h2>Workload: ${esc(s.workload.name)}</h2>`);
    parts.push(
      table(
        ['figure', 'whole run'],
        s.workload.figures.map((f) => [
          f.label,
          f.value === null ? 'not measured' : `${fmt(f.value, Number.isInteger(f.value) ? 0 : 2)}${f.unit ? ` ${f.unit}` : ''}`,
        ]),
      ),
    );
    parts.push(
      `<p class="lossless">Lossless: <b>${l.ok === null ? 'not decided' : l.ok ? 'yes' : 'NO'}</b> (${esc(l.why)}).</p>`,
    );
    const windowed = s.workload.figures.filter((f) => f.per_migration);
    if (windowed.length && s.workload.per_migration.length) {
      parts.push(
        "<h3>Per migration (from its start to the next one's)</h3>" +
          table(
            ['#', ...windowed.map((f) => `${f.label}${f.unit ? ` (${f.unit})` : ''}`)],
            s.workload.per_migration.map((pm, i) => [
              String(s.spans[i]?.index ?? i + 1),
              ...windowed.map((f) => fmt(pm[f.key], f.unit === 'ms' ? 1 : 0)),
            ]),
          ),
      );
    }
  }

  parts.push('<h2>Phases</h2>');
  parts.push(
    table(
      ['phase', 'n', 'mean', 'sd', 'p50', 'min', 'max', 'published mean'],
      PHASE_ROWS.map(([k, label]) => {
        const d = s.phases_ms[k];
        const p = (pub.phases_ms as Record<string, number>)[k];
        return [
          label,
          String(d.n),
          fmt(d.mean),
          fmt(d.sd),
          fmt(d.p50),
          fmt(d.min),
          fmt(d.max),
          p === undefined ? '–' : fmt(p, 0),
        ];
      }),
    ),
  );
  const extra = Object.entries(s.extra_phases_ms);
  if (extra.length)
    parts.push(
      '<h3>Finer steps (from the timing JSON)</h3>' +
        table(
          ['step', ...DESCRIBE_HEAD],
          extra.map(([k, d]) => [k, ...describeCells(d)]),
        ),
    );
  parts.push(renderLinks(s.links));
  const cs = s.checkpoint_size_bytes;
  parts.push(
    `<p>Checkpoint size: mean ${fmt(cs.mean === null ? null : cs.mean / 1e6, 2)} MB (min ${fmt(cs.min === null ? null : cs.min / 1e6, 2)}, max ${fmt(cs.max === null ? null : cs.max / 1e6, 2)}, n ${cs.n}). <span class="pub">Published: 6.4–8.1 MB.</span></p>`,
  );

  parts.push('<h2>Connections and frames</h2>');
  const c = s.counters;
  parts.push(
    table(
      ['figure', 'whole run', 'published'],
      [
        [
          'connection drops',
          s.connection_drops === null ? 'not measured' : String(s.connection_drops),
          `${pub.connection_drops} of 4 over 20 migrations`,
        ],
        ...(
          [
            ['frames lost', c.frames_lost],
            ['frames duplicated', c.frames_duplicated],
            ['frames reordered', c.frames_reordered],
            ['pings unanswered (never answered)', c.pings_unanswered],
            ['pongs late (answered after the pong window)', c.pongs_late],
            ['RTTs over RTT_CAP (left out of the RTT figures)', c.rtts_over_cap],
          ] as const
        ).map(([label, k]) => [label, k.total === null ? 'not measured' : String(k.total), 'not measured']),
      ],
    ),
  );
  const overCap = s.migrations.map((m) => m.window.rtts_over_cap);
  if (overCap.some((v) => v))
    parts.push(
      `<p>RTTs over RTT_CAP per migration window: ${overCap.map((v, i) => `#${i + 1}: ${v ?? '–'}`).join(', ')}. They are counted here instead of entering the RTT statistics.</p>`,
    );

  parts.push(`<h2>RTT: steady state versus the ${s.rtt.window_s} s after each switch update</h2>`);
  parts.push(
    table(
      ['window', ...DESCRIBE_HEAD],
      [
        ['steady (before the first migration), ms', ...describeCells(s.rtt.steady, 3)],
        [`${s.rtt.window_s} s after each switch update, ms`, ...describeCells(s.rtt.after_migration, 3)],
      ],
    ),
  );
  parts.push(
    `<p>After / steady (means): ${fmt(s.rtt.after_over_steady, 1)}×. <span class="pub">Published: steady ${pub.steady_rtt_ms.low}–${pub.steady_rtt_ms.high} ms; first RTT after the switch update 250–400 ms.</span> RTT rows come from the load generator's per-scrape avg; rows without an echo (0 or empty) are not samples.</p>`,
  );

  parts.push('<h2>Time from switch update to first data</h2>');
  parts.push(
    table(
      ['source', ...DESCRIBE_HEAD],
      [[s.first_data_after_switch_ms.source, ...describeCells(s.first_data_after_switch_ms.stats, 1)]],
    ),
  );
  parts.push(
    `<p>${
      s.first_data_after_switch_ms.source === 'timing'
        ? "Measured by the load generator: the first data frame on any connection after its stall, against the switch update's completion as the control machine saw it (ns timestamps, per migration in the timing files as first_data_after_switch_ms; last_connection_data_after_switch_ms is when the last stalled connection resumed). A negative value means data flowed before the controller's HTTP answer reached the control machine: the switch tables change before that answer."
        : "Estimated from metrics rows, so only accurate to the scrape interval (METRICS_INTERVAL): the load generator's first-data-after-gap timestamps were not available for this run."
    }</p>`,
  );
  parts.push(
    `<p class="pub">Published: data flow resumes ${pub.data_resumes_after_switch_s.low}–${pub.data_resumes_after_switch_s.high} s after the switch update (with rto_min 5 ms).</p>`,
  );

  parts.push('<h2>RTO stall: client requests answered again after the switch update</h2>');
  parts.push(
    table(
      ['measure', ...DESCRIBE_HEAD],
      [
        [
          "slowest connection's first answer (pong or redis reply) after the switch update, ms",
          ...describeCells(s.pong_stall_ms, 1),
        ],
      ],
    ),
  );
  parts.push(
    "<p>Requests travel client→server (the stream load generator's pings, the redis client's commands). Those sent while the server was frozen " +
      "are lost and the client's TCP retransmits them when its retransmission timer expires — the timer doubles after every miss (its floor is " +
      "rto_min: RTO_MIN_MS, 0 = the kernel's 200 ms) — or earlier when the server's own segments reach the client: a streaming server resumes " +
      'sending at once after the restore, and pongs were seen to come back with its frames. A request/response workload (redis) has only the ' +
      "timer: its server has nothing to send until the retransmitted request arrives. From the client's first-pong-after-gap / " +
      'first-reply-after-gap lines (ns timestamps) against switch_update_done_ns.</p>',
  );

  parts.push('<h2>Per migration</h2>');
  // the lazy engine's last page (post-copy): shown when a migration has it
  const lazy = s.migrations.some((m) => m.lazy_pages_done_ms !== null);
  parts.push(
    table(
      [
        '#',
        'from → to',
        'time to ready',
        'checkpoint',
        'transfer',
        'restore',
        'switch',
        'size (MB)',
        'first data after switch',
        'first / last answer after switch',
        'RTT after (mean/max)',
        'frames lost',
        'pings unanswered',
        'drops',
        ...(lazy ? ['last page arrived (lazy)'] : []),
      ],
      s.migrations.map((m) => [
        String(m.index),
        `${m.source_node ?? '?'} → ${m.target_node ?? '?'}`,
        fmt(m.time_to_ready_ms, 0),
        fmt(m.checkpoint_ms, 0),
        fmt(m.transfer_ms, 0),
        fmt(m.restore_ms, 0),
        fmt(m.switch_ms, 0),
        fmt(m.checkpoint_size_bytes === null ? null : m.checkpoint_size_bytes / 1e6, 2),
        fmt(m.first_data_after_switch_ms, 1),
        `${fmt(m.first_pong_after_switch_ms, 1)} / ${fmt(m.last_pong_after_switch_ms, 1)}`,
        `${fmt(m.rtt_after.mean_ms, 2)} / ${fmt(m.rtt_after.max_ms, 1)}`,
        m.window.frames_lost === null ? '–' : String(m.window.frames_lost),
        m.window.pings_unanswered === null ? '–' : String(m.window.pings_unanswered),
        m.window.connection_drops === null ? '–' : String(m.window.connection_drops),
        ...(lazy ? [fmt(m.lazy_pages_done_ms, 0)] : []),
      ]),
    ),
  );

  parts.push('<h2>Plots</h2>');
  for (const p of plots) {
    if (p.svg) {
      parts.push(
        `<figure id="plot-${esc(p.name)}"><img alt="${esc(p.title)}" src="${svgDataUri(p.svg)}"><figcaption>${esc(p.name)}: ${esc(p.title)}` +
          `${p.pngFile ? ` · <a href="${esc(p.pngFile)}">PNG</a>` : ''}</figcaption></figure>`,
      );
    } else {
      parts.push(`<p class="skip" id="plot-${esc(p.name)}">${esc(p.name)} skipped: ${esc(p.skip ?? 'no data')}</p>`);
    }
  }

  parts.push('<h2>Configuration</h2>');
  const cfg = Object.entries(run.config);
  parts.push(
    cfg.length
      ? table(
          ['key', 'value', 'origin'],
          cfg.map(([k, v]) => [k, typeof v.value === 'object' ? JSON.stringify(v.value) : String(v.value), v.origin || '–']),
        )
      : '<p>No configuration file in this run folder.</p>',
  );
  parts.push('<h2>Manifest</h2>');
  parts.push(run.manifest ? valueHtml(run.manifest) : '<p>No manifest.json (bash-format run or not written).</p>');
  if (s.run.extra_columns.length)
    parts.push(`<p class="sub">metrics.csv columns not analysed: ${esc(s.run.extra_columns.join(', '))}</p>`);
  parts.push(`<p class="sub">Published figures: ${esc(pub.source)}.</p>`);
  return page(`p4cf report ${s.run.name}`, parts.join('\n'));
}
