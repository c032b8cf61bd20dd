// Figures of the published hardware run (20 migrations, Tofino 1, 25G), shown beside every
// local result so a reader can tell how far the emulation is from the real testbed.
export const PUBLISHED = {
  source: 'published bash run: 20 migrations, Wedge100BF-32X (Tofino 1), 25G',
  downtime_ms: { mean: 3909, sd: 218, p50: 3911, max: 4419 },
  phases_ms: { checkpoint_ms: 1564, transfer_ms: 157, restore_ms: 1798, switch_ms: 32 },
  switch_sd_ms: 1.7,
  steady_rtt_ms: { low: 0.28, high: 0.35 },
  data_resumes_after_switch_s: { low: 1, high: 2 },
  connection_drops: 0,
} as const;
