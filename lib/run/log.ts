// Logger: terminal + the run's experiment.log. Until a run folder exists, file lines are buffered
// and flushed when attachFile() is called, so nothing printed before the folder is lost.
import { appendFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A line attributed to a phase: `[phase] msg`. */
  step(phase: string, msg: string): void;
  /** One line of remote output: `[host] line`. */
  host(host: string, line: string): void;
  /** Phase start banner with host(s); returns a function that prints the end banner with the duration. */
  banner(phase: string, description: string, hosts: string[]): (status?: 'ok' | 'failed' | 'skipped' | 'interrupted') => number;
  /** Countdown for a long wait; `update` sets the note shown with it, `stop` ends it. */
  countdown(label: string, totalMs: number): { update(note: string): void; stop(): void };
  /** Start writing to a file (appends); flushes what was buffered before. */
  attachFile(path: string): void;
  /** The file lines go to (undefined until attachFile). */
  readonly file: string | undefined;
  /** The last n lines of the file (or of the buffer before there is a file). */
  tail(n: number): string[];
}

export interface LoggerOptions {
  /** Terminal sink; default process.stderr for warnings/errors and process.stdout otherwise. */
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  /** Render countdowns in place; default: stdout is a TTY and CI is unset. */
  tty?: boolean;
  /** Print countdown lines this often when not a TTY. */
  progressEveryMs?: number;
  /** Only the file gets lines (tests, dry-run printing elsewhere). */
  silent?: boolean;
}

const BUFFER_MAX = 5000;

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.out ?? process.stdout;
  const err = opts.err ?? process.stderr;
  const tty = opts.tty ?? (Boolean((process.stdout as { isTTY?: boolean }).isTTY) && !process.env.CI);
  const every = opts.progressEveryMs ?? 5000;
  let file: string | undefined;
  let buffer: string[] = [];
  let liveLine = false;
  let fileFailed = false;

  const toFile = (line: string) => {
    const stamped = `${new Date().toISOString()} ${line}`;
    if (!file) {
      buffer.push(stamped);
      if (buffer.length > BUFFER_MAX) buffer = buffer.slice(-BUFFER_MAX);
      return;
    }
    try {
      appendFileSync(file, stamped + '\n');
    } catch (e) {
      // A full disk must not stop the experiment or its cleanup, but the user should know the log is short.
      if (!fileFailed && !opts.silent)
        err.write(`WARN cannot write ${file} (${(e as Error).message}); it misses lines from here on (said once)\n`);
      fileFailed = true;
    }
  };
  const toTerm = (stream: NodeJS.WritableStream, line: string) => {
    if (opts.silent) return;
    if (liveLine) {
      stream.write('\r\x1b[K');
      liveLine = false;
    }
    stream.write(line + '\n');
  };
  const emit = (line: string, stream = out) => {
    for (const l of line.split('\n')) {
      toTerm(stream, l);
      toFile(l);
    }
  };

  const logger: Logger = {
    info: (msg) => emit(msg),
    warn: (msg) => emit(`WARN ${msg}`, err),
    error: (msg) => emit(`ERROR ${msg}`, err),
    step: (phase, msg) => emit(`[${phase}] ${msg}`),
    host: (host, line) => emit(`[${host}] ${line}`),
    banner(phase, description, hosts) {
      const start = Date.now();
      emit(`=== ${phase} — ${description} — on ${hosts.length ? hosts.join(', ') : 'this machine'}`);
      return (status = 'ok') => {
        const ms = Date.now() - start;
        emit(`=== ${phase} ${status} in ${formatDuration(ms)}`);
        return ms;
      };
    },
    countdown(label, totalMs) {
      const start = Date.now();
      let note = '';
      let lastPrint = 0;
      const render = () => {
        const left = Math.max(0, totalMs - (Date.now() - start));
        const line = `${label}: ${formatDuration(left)} left${note ? ` (${note})` : ''}`;
        if (opts.silent) return;
        if (tty) {
          (out as NodeJS.WritableStream).write(`\r\x1b[K${line}`);
          liveLine = true;
        } else if (Date.now() - lastPrint >= every) {
          lastPrint = Date.now();
          emit(line);
        }
      };
      toFile(`${label}: waiting up to ${formatDuration(totalMs)}`);
      render();
      const timer = setInterval(render, tty ? 250 : Math.min(every, 1000));
      timer.unref();
      return {
        update(n) {
          note = n;
        },
        stop() {
          clearInterval(timer);
          if (liveLine && !opts.silent) {
            out.write('\r\x1b[K');
            liveLine = false;
          }
        },
      };
    },
    attachFile(path) {
      mkdirSync(dirname(path), { recursive: true });
      file = path;
      if (buffer.length) appendFileSync(path, buffer.join('\n') + '\n');
      buffer = [];
    },
    get file() {
      return file;
    },
    tail(n) {
      if (file && existsSync(file)) return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-n);
      return buffer.slice(-n);
    },
  };
  return logger;
}

/** Splits a stream of chunks into lines; `flush` emits a trailing partial line. */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; flush(): void } {
  let rest = '';
  return {
    push(chunk) {
      rest += chunk.toString();
      const parts = rest.split(/\r?\n/);
      rest = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    },
    flush() {
      if (rest) {
        onLine(rest);
        rest = '';
      }
    },
  };
}
