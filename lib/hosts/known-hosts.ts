// known_hosts: parsing (plain and hashed entries), the `[host]:port` name, fingerprints. The SSH
// host pins keys with these; an unknown or changed key is refused.
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  patterns: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  type: string;
  key: Buffer;
  line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  text.split('\n').forEach((l, i) => {
    const line = l.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) return;
    const [hosts, type, b64] = line.split(/\s+/);
    if (!hosts || !type || !b64) return;
    const key = Buffer.from(b64, 'base64');
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      out.push({
        patterns: [],
        hashed: { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') },
        type,
        key,
        line: i + 1,
      });
    } else out.push({ patterns: hosts.split(','), type, key, line: i + 1 });
  });
  return out;
}

/** The known_hosts name of a target: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function entriesFor(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((e) =>
    e.hashed ? createHmac('sha1', e.hashed.salt).update(name).digest().equals(e.hashed.hash) : e.patterns.includes(name),
  );
}

export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The key type named inside an SSH public key blob. */
export function keyType(blob: Buffer): string {
  try {
    return blob.subarray(4, 4 + blob.readUInt32BE(0)).toString();
  } catch {
    return 'unknown';
  }
}

/** Host key algorithms to offer for a pinned key type (an RSA key is signed with SHA-2 today). */
export const HOSTKEY_ALGOS: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};
