// The zx scripting surface: `onTofino`, `onServer(name)` and `onLocal` tagged templates, the heirs
// of the bash scripts' on_tofino / on_lakewood / on_loveland, over each host's persistent
// connection. Interpolations follow zx's `$` (one value = one word, arrays = several words, '' = an
// empty word; quote.ts says why the quoting itself is POSIX). The result behaves like zx's
// ProcessOutput, the pending command like its ProcessPromise (.nothrow(), .quiet(), .timeout(ms)).
// Dry run, sudo and the run's abort signal are the host's and the context's business, not the caller's.
import { RemoteError } from './errors.ts';
import { sh } from './quote.ts';
import type { ExecOpts, Host, HostName, ServerName } from './types.ts';

/** Options of a command; `onTofino({ cwd })` gives a helper that applies them to every command. */
export interface CommandOptions {
  /** Resolve with the output on a non-zero exit instead of throwing (zx: nothrow). */
  nothrow?: boolean;
  /** Stream the command's output lines into the run log (default off: commands are quiet). */
  verbose?: boolean;
  timeoutMs?: number;
  /** Text fed to the command's stdin (zx: input). */
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string>;
  /** Override the host's sudo policy for this command (false: run as the login user). */
  sudo?: boolean;
  /** In a dry run: what the command would print (e.g. '<container id>', '<server pid>'). */
  dryRun?: string;
}

/** The result of a command, like zx's ProcessOutput. */
export class HostOutput {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly stdout: string,
    readonly stderr: string,
    readonly exitCode: number,
  ) {}
  get ok(): boolean {
    return this.exitCode === 0;
  }
  text(): string {
    return this.stdout;
  }
  /** stdout split into lines, without the empty one after the last newline. */
  lines(): string[] {
    const l = this.stdout.split(/\r?\n/);
    if (l.length && l[l.length - 1] === '') l.pop();
    return l;
  }
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.stdout) as T;
    } catch (e) {
      throw new RemoteError(
        this.host,
        this.command,
        this.exitCode,
        '',
        `output is not JSON (${(e as Error).message}): ${this.stdout.slice(0, 200)}`,
      );
    }
  }
  toString(): string {
    return this.stdout;
  }
  /** As a value in another template: stdout without its trailing newline (as in zx). */
  valueOf(): string {
    return this.stdout.trimEnd();
  }
}

/** A command that has not finished, like zx's ProcessPromise: chain options before awaiting. */
export class HostCommand implements PromiseLike<HostOutput> {
  private started?: Promise<HostOutput>;

  constructor(
    private readonly host: () => Host,
    readonly command: string,
    private readonly opts: CommandOptions,
    private readonly signal: () => AbortSignal | undefined,
  ) {
    // Started on the next microtask, so options chained in the same expression apply (as in zx).
    queueMicrotask(() => {
      this.run();
    });
  }

  private set(change: CommandOptions): this {
    if (this.started) throw new Error(`[${this.host().name}] ${this.command}: options must be chained before the command starts`);
    Object.assign(this.opts, change);
    return this;
  }
  nothrow(): this {
    return this.set({ nothrow: true });
  }
  quiet(): this {
    return this.set({ verbose: false });
  }
  verbose(): this {
    return this.set({ verbose: true });
  }
  timeout(ms: number): this {
    return this.set({ timeoutMs: ms });
  }
  /** In a dry run, answer `placeholder` (the plan keeps going with it). */
  dryRun(placeholder: string): this {
    return this.set({ dryRun: placeholder });
  }

  private run(): Promise<HostOutput> {
    if (this.started) return this.started;
    const o = this.opts;
    let h: Host;
    try {
      h = this.host();
    } catch (e) {
      return (this.started = Promise.reject(e));
    }
    const exec: ExecOpts = {
      quiet: !o.verbose,
      allowFail: o.nothrow,
      timeoutMs: o.timeoutMs,
      stdin: o.input,
      cwd: o.cwd,
      env: o.env,
      sudo: o.sudo,
      dryRunStdout: o.dryRun,
      signal: this.signal(),
    };
    this.started = h.exec(this.command, exec).then((r) => new HostOutput(h.name, this.command, r.stdout, r.stderr, r.code));
    return this.started;
  }

  // `any` for the rejection reason, as Promise itself declares it.
  // biome-ignore lint/suspicious/noThenProperty: awaitable on purpose, like zx's ProcessPromise
  then<A = HostOutput, B = never>(
    ok?: ((v: HostOutput) => A | PromiseLike<A>) | null,
    fail?: ((e: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.run().then(ok, fail);
  }
  catch<B = never>(fail?: ((e: any) => B | PromiseLike<B>) | null): Promise<HostOutput | B> {
    return this.run().catch(fail);
  }
  finally(fn?: (() => void) | null): Promise<HostOutput> {
    return this.run().finally(fn);
  }
  text(): Promise<string> {
    return this.run().then((r) => r.text());
  }
  lines(): Promise<string[]> {
    return this.run().then((r) => r.lines());
  }
  json<T = unknown>(): Promise<T> {
    return this.run().then((r) => r.json<T>());
  }
}

/** A tagged template that runs on one host; called with options it gives a helper with those defaults. */
export interface OnHost {
  (strings: TemplateStringsArray, ...values: unknown[]): HostCommand;
  (opts: CommandOptions): OnHost;
  /**
   * Run a command text that is already put together (by sh`…` or a lib/ builder such as
   * nicTuneScript), as is. Never pass text with unquoted values in it: use the template.
   */
  script(text: string): HostCommand;
  readonly hostName: HostName;
}

export interface Hosts {
  /** The switch. */
  onTofino: OnHost;
  /** A server (one of SERVERS): onServer('lakewood')`…`, onServer('boulder')`…`. */
  onServer(name: ServerName, opts?: CommandOptions): OnHost;
  /** This machine (the control machine). */
  onLocal: OnHost;
  /** Any host by name. */
  on(name: HostName, opts?: CommandOptions): OnHost;
}

/** What the helpers need: host handles by name and the run's abort signal (a RunContext has both). */
export interface HostSource {
  host(name: HostName): Host;
  signal?: AbortSignal;
}

const isTemplate = (v: unknown): v is TemplateStringsArray => Array.isArray(v) && 'raw' in (v as object);

function onHost(src: HostSource, name: HostName, base: CommandOptions): OnHost {
  const f = ((first: TemplateStringsArray | CommandOptions, ...values: unknown[]) => {
    if (isTemplate(first))
      return new HostCommand(
        () => src.host(name),
        sh(first, ...values),
        { ...base },
        () => src.signal,
      );
    return onHost(src, name, { ...base, ...first });
  }) as OnHost;
  Object.defineProperty(f, 'hostName', { value: name });
  f.script = (text: string) =>
    new HostCommand(
      () => src.host(name),
      text,
      { ...base },
      () => src.signal,
    );
  return f;
}

/** The helpers over a context's hosts: `const { onTofino, onServer, onLocal } = hostsOf(ctx)`. */
export function hostsOf(src: HostSource): Hosts {
  return {
    onTofino: onHost(src, 'tofino', {}),
    onLocal: onHost(src, 'local', {}),
    onServer(name, opts = {}) {
      // which names are servers is the config's SERVERS: the context refuses an unknown one
      if (name === 'tofino' || name === 'local')
        throw new Error(`onServer(${JSON.stringify(name)}): expected a server name (one of SERVERS), not the ${name} host`);
      return onHost(src, name, opts);
    },
    on: (name, opts = {}) => onHost(src, name, opts),
  };
}
