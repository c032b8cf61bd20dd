// A minimal RESP2 client: one TCP connection, commands pipelined in order, replies matched FIFO.
// Written here instead of using an npm client because the load generator must see every failure
// itself: no hidden auto-reconnect, no offline queue that silently replays a command after a
// migration, no retry — a dropped connection fails exactly the commands in flight.
import net from 'node:net';

export type RespValue = string | number | null | Buffer | RespValue[];

/** The server answered with an error reply (-ERR …); the connection stays usable. */
export class RespServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespServerError';
  }
}
/** The connection closed or failed while the command was in flight (or before it was sent). */
export class RespConnectionError extends Error {
  constructor(
    message: string,
    public readonly cause?: Error,
  ) {
    super(message);
    this.name = 'RespConnectionError';
  }
}
/** The bytes on the wire are not RESP. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespProtocolError';
  }
}

/** One command as a RESP array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | number | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

type Parsed = { value: RespValue | RespServerError; end: number } | undefined;

/** Parses one reply starting at `pos`; undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, pos = 0): Parsed {
  if (pos >= buf.length) return undefined;
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespServerError(line), end: next };
    case ':': {
      const n = Number(line);
      if (!Number.isInteger(n)) throw new RespProtocolError(`integer reply "${line}" is not an integer`);
      return { value: n, end: next };
    }
    case '$': {
      const len = Number(line);
      if (!Number.isInteger(len) || len < -1) throw new RespProtocolError(`bulk length "${line}" is invalid`);
      if (len === -1) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.subarray(next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (!Number.isInteger(n) || n < -1) throw new RespProtocolError(`array length "${line}" is invalid`);
      if (n === -1) return { value: null, end: next };
      const out: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return undefined;
        if (r.value instanceof RespServerError) throw new RespProtocolError(`error inside an array reply: ${r.value.message}`);
        out.push(r.value);
        p = r.end;
      }
      return { value: out, end: p };
    }
    default:
      throw new RespProtocolError(`unknown reply type byte 0x${buf[pos].toString(16)} at offset ${pos}`);
  }
}

export interface RespConnection {
  /** Sends one command; resolves with its reply, rejects with RespServerError or RespConnectionError. */
  command(args: ReadonlyArray<string | number | Buffer>): Promise<RespValue>;
  /** Commands sent whose reply has not arrived. */
  readonly inFlight: number;
  readonly closed: boolean;
  /** Resolves when the connection is closed (by either side), with the reason if it failed. */
  readonly done: Promise<Error | undefined>;
  close(): void;
}

interface Pending {
  resolve(v: RespValue): void;
  reject(e: Error): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  timeoutMs?: number;
  keepAliveMs?: number;
}

/** Opens a connection; rejects with RespConnectionError when it cannot connect within timeoutMs. */
export function connect(o: ConnectOptions): Promise<RespConnection> {
  return new Promise((resolveConnect, rejectConnect) => {
    const sock = net.connect({ host: o.host, port: o.port, noDelay: true });
    const pending: Pending[] = [];
    let buf: Buffer = Buffer.alloc(0);
    let closed = false;
    let failure: Error | undefined;
    let connected = false;
    let finish!: (e: Error | undefined) => void;
    const done = new Promise<Error | undefined>((r) => {
      finish = r;
    });
    const timer = setTimeout(
      () => sock.destroy(new Error(`connect timeout after ${o.timeoutMs ?? 5000} ms`)),
      o.timeoutMs ?? 5000,
    );

    const fail = (e: Error) => {
      failure ??= e;
      sock.destroy();
    };
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let pos = 0;
      try {
        for (;;) {
          const r = parseReply(buf, pos);
          if (!r) break;
          pos = r.end;
          const p = pending.shift();
          if (!p) throw new RespProtocolError('reply without a command in flight');
          if (r.value instanceof RespServerError) p.reject(r.value);
          else p.resolve(r.value);
        }
      } catch (e) {
        fail(e as Error);
        return;
      }
      buf = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos);
    });
    sock.on('error', (e) => {
      failure ??= e;
    });
    sock.on('close', () => {
      closed = true;
      clearTimeout(timer);
      const why = failure ? `${failure.message}` : 'closed by the peer';
      for (const p of pending.splice(0))
        p.reject(new RespConnectionError(`connection to ${o.host}:${o.port} lost with the command in flight: ${why}`, failure));
      if (!connected) rejectConnect(new RespConnectionError(`cannot connect to ${o.host}:${o.port}: ${why}`, failure));
      finish(failure);
    });
    sock.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      if (o.keepAliveMs) sock.setKeepAlive(true, o.keepAliveMs);
      resolveConnect({
        command(args) {
          if (closed) return Promise.reject(new RespConnectionError(`connection to ${o.host}:${o.port} is closed`, failure));
          return new Promise((resolve, reject) => {
            pending.push({ resolve, reject });
            sock.write(encodeCommand(args));
          });
        },
        get inFlight() {
          return pending.length;
        },
        get closed() {
          return closed;
        },
        done,
        close() {
          sock.end();
          setTimeout(() => sock.destroy(), 1000).unref();
        },
      });
    });
  });
}

/** A reply as text (bulk strings are Buffers). */
export const text = (v: RespValue): string | null =>
  v === null ? null : Buffer.isBuffer(v) ? v.toString('utf8') : Array.isArray(v) ? JSON.stringify(v) : String(v);

/** INFO's "key:value" lines as a record. */
export function parseInfo(info: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
