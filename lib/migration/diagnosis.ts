// Turns a failed restore (CRIU's restore.log and podman's stderr) into a short, specific
// explanation. CRIU logs hundreds of lines; the first "Error (file:line):" is nearly always
// the cause, and a handful of causes recur often enough to be explained by name.

export interface RestoreDiagnosis {
  /** One line: what went wrong and why, for error.log and the terminal. */
  summary: string;
  /** Identifier of the known cause, or 'unknown'. */
  cause: string;
  /** What to do about it. */
  hint: string;
  /** The CRIU error lines (timestamps and pid prefixes stripped), first one first. */
  errors: string[];
}

interface KnownCause {
  cause: string;
  match: RegExp;
  summary: (m: RegExpMatchArray) => string;
  hint: string;
}

// Ordered: the first matching pattern over all error lines wins, so specific causes come first.
const KNOWN: KnownCause[] = [
  {
    cause: 'send-queue-replay',
    match: /Can't restore send queue data.*Broken pipe/i,
    summary: () =>
      'CRIU could not replay the unsent data of a TCP send queue (Broken pipe): the socket had unsent ' +
      'data at checkpoint time, so quiesce/drain did not finish before the dump',
    hint:
      'make sure the server is quiesced (SIGUSR2) and the send queues reach 0 before the checkpoint ' +
      '(raise DRAIN_TIMEOUT, check that the peer still ACKs during the drain)',
  },
  {
    cause: 'queue-replay',
    match: /Can't restore (recv|send) queue data/i,
    summary: (m) => `CRIU could not replay the ${m[1]} queue of a TCP socket`,
    hint: 'the socket queues in the checkpoint could not be written back; drain the queues before the checkpoint',
  },
  {
    cause: 'address-missing',
    match: /Can't bind inet socket back[^:]*:\s*Cannot assign requested address/i,
    summary: () =>
      'CRIU could not bind a TCP socket to its address: the server IP was not configured in the ' +
      'container network namespace when the sockets were restored',
    hint: 'the restored container needs its static IP before CRIU rebuilds sockets; check the podman network on the target',
  },
  {
    cause: 'pid-collision',
    match: /Can't fork for (\d+)[^:]*:\s*File exists/i,
    summary: (m) => `CRIU could not recreate PID ${m[1]}: it is in use (restore outside a fresh PID namespace?)`,
    hint: 'restore into a new container (podman container restore --import), not into a running one',
  },
  {
    cause: 'vdso',
    match: /vdso: Unexpected rt vDSO area bounds/i,
    summary: () => 'this CRIU does not understand the kernel vDSO layout (CRIU too old for this kernel)',
    hint: 'install CRIU >= 4.2 (npx tsx experiments/setup.ts)',
  },
  {
    cause: 'tcp-opt',
    match: /Can't get 1:16 opt/i,
    summary: () => 'this CRIU cannot dump TCP sockets on this kernel (SO_PASSCRED on inet sockets)',
    hint: 'install CRIU >= 4.2 (npx tsx experiments/setup.ts)',
  },
  {
    cause: 'lazy-pipe-size',
    match: /page-pipe: tee: (\d+)/i,
    summary: (m) =>
      `CRIU's page server sent only ${m[1]} bytes of a page request: it could not enlarge its pipe ` +
      '(F_SETPIPE_SZ above fs.pipe-max-size needs CAP_SYS_RESOURCE) and went on with a 64 KiB one',
    hint: 'raise /proc/sys/fs/pipe-max-size to 4194304 on the source (the lazy engine does so when it prepares a migration)',
  },
  {
    cause: 'lazy-pages-unavailable',
    match:
      /(criu lazy-pages daemon did not start|connect to lazy-pages\.socket failed|Lazy pages are not available|not serving \(|Can't connect to page server)/i,
    summary: (m) => `the lazy (post-copy) restore could not reach its page source (${m[1]})`,
    hint: 'check that userfaultfd works on the target (criu check --feature uffd-noncoop), that the page server on the source listens on the direct link, and the lazy-pages/page-server logs in the checkpoint folders',
  },
  {
    cause: 'lazy-pages-lost',
    match:
      /(Error reading data from page server[^)]*|Can't send PSI \d+ to server[^)]*|Remote side closed connection|The page server doesn't answer|Restorer unexpectedly closed the connection|Lazy pages transfer FAILED|did not arrive within LAZY_PAGES_TIMEOUT|criu lazy-pages on \S+ exited with \d+)/i,
    summary: (m) =>
      `memory pages were still in flight from the source's page server when the transfer broke (${m[1]}): the restored process cannot have its full memory`,
    hint: 'the direct link or the source failed after the switch; a target container still running was stopped (its missing pages would read as zeros). Check the direct link, raise LAZY_PAGES_TIMEOUT for large STATE_MB on slow links, or use MIGRATION_ENGINE=runc',
  },
  {
    cause: 'image-damaged',
    match:
      /(Magic doesn't match for \S+|Read \d+ bytes while \d+ expected|Unexpected EOF|magic mismatch|Corrupted image|Can't read .*\.img|Failed to read|Unable to open .*\.img|Can't open .*(inventory|\.img)|No such file or directory.*\.img|\.img.*No such file)/i,
    summary: (m) => `the checkpoint image is damaged or incomplete (${m[1]})`,
    hint: 'the checkpoint tar was truncated or altered after the dump; keep size verification on (CR_SKIP_VERIFY=false)',
  },
  {
    cause: 'archive-damaged',
    match:
      /(unexpected EOF|invalid tar header|archive\/tar|unpacking|failed to read .*checkpoint|not a valid .*tar|import.*checkpoint.*(failed|error)|config\.dump)/i,
    summary: (m) => `podman could not unpack the checkpoint archive (${m[1]})`,
    hint: 'the checkpoint tar is damaged; check the transfer and the free space on the target',
  },
];

// Lines CRIU prints as errors on every run here and which do not cause failures.
const HARMLESS = [/rlimit: Can't setup RLIMIT_NOFILE for self/i];

/** Strip CRIU's "(00.123456)      1: " prefix. */
function stripPrefix(line: string): string {
  return line
    .replace(/^\(\s*\d+\.\d+\)\s*/, '')
    .replace(/^\s*\d+:\s+/, '')
    .trim();
}

/** Error lines of a CRIU log, in order, without the harmless ones. */
export function criuErrorLines(logText: string): string[] {
  return logText
    .split('\n')
    .map(stripPrefix)
    .filter((l) => /^Error \(|^Error:|^Error /.test(l) || /\bError\b.*\(\S+\.c:\d+\)/.test(l))
    .filter((l) => !HARMLESS.some((h) => h.test(l)));
}

/**
 * Diagnose a failed restore. `criuLog` may be empty (podman failed before CRIU ran, or the
 * log was not found); then podman's stderr alone is classified.
 */
export function diagnoseRestore(criuLog: string, podmanStderr = ''): RestoreDiagnosis {
  const errors = criuErrorLines(criuLog);
  const podmanLines = podmanStderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const candidates = [...errors, ...podmanLines];
  for (const k of KNOWN) {
    for (const line of candidates) {
      const m = line.match(k.match);
      if (m) return { summary: k.summary(m), cause: k.cause, hint: k.hint, errors };
    }
  }
  const first = errors[0] ?? podmanLines.filter((l) => /error/i.test(l)).pop() ?? podmanLines.pop();
  return {
    summary: first ? `restore failed: ${first}` : 'restore failed and neither the CRIU log nor podman said why',
    cause: 'unknown',
    hint: criuLog
      ? 'read the full CRIU restore log saved beside this diagnosis'
      : "no CRIU log was found: podman failed before CRIU ran; see podman's output",
    errors,
  };
}

/** The text saved as migration_<i>_restore_diagnosis.txt. */
export function formatDiagnosis(
  d: RestoreDiagnosis,
  ctx: { index: number; host: string; logPath?: string; podmanStderr?: string },
): string {
  const lines = [
    `migration ${ctx.index}: restore on ${ctx.host} failed`,
    `cause: ${d.cause}`,
    `diagnosis: ${d.summary}`,
    `what to do: ${d.hint}`,
  ];
  if (ctx.logPath) lines.push(`CRIU restore log: ${ctx.logPath}`);
  if (d.errors.length) lines.push('', 'CRIU errors:', ...d.errors.slice(0, 20).map((e) => `  ${e}`));
  if (ctx.podmanStderr?.trim())
    lines.push(
      '',
      'podman stderr (tail):',
      ...ctx.podmanStderr
        .trim()
        .split('\n')
        .slice(-15)
        .map((e) => `  ${e}`),
    );
  return lines.join('\n') + '\n';
}
