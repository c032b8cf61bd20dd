import { describe, expect, it } from 'vitest';
import { criuErrorLines, diagnoseRestore, formatDiagnosis } from '../lib/migration/diagnosis.ts';

// Shape of a CRIU 4.2 restore.log (timestamps, pid prefixes, the harmless rlimit line).
const SEND_QUEUE_LOG = `(00.000000) Version: 4.2.1 (gitid 0)
(00.000012) Running on p4cf-lakewood Linux 6.18.0 #1 SMP x86_64
(00.000140) Error (criu/util.c:777): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted
(00.012345)      1: Restoring TCP connection id 12 ino 40a1
(00.012400)      1: Debug: 	Restoring TCP 2 queue data 4096 bytes
(00.012500)      1: Error (soccr/soccr.c:819): Can't restore send queue data (-1), want (0-4096:4096:65536): Broken pipe
(00.012600)      1: Error (criu/sk-tcp.c:409): Can't restore socket queues
(00.020000) Error (criu/cr-restore.c:2310): Restoring FAILED.
`;

describe('restore diagnosis', () => {
  it('explains the send-queue Broken pipe case', () => {
    const d = diagnoseRestore(SEND_QUEUE_LOG, 'Error: OCI runtime error: runc: criu failed: type NOTIFY errno 0');
    expect(d.cause).toBe('send-queue-replay');
    expect(d.summary).toMatch(/unsent data/);
    expect(d.summary).toMatch(/quiesce\/drain did not finish/);
    expect(d.errors[0]).toMatch(/^Error \(soccr\/soccr.c:819\)/);
  });

  it('drops the harmless rlimit line and strips prefixes', () => {
    const lines = criuErrorLines(SEND_QUEUE_LOG);
    expect(lines).toHaveLength(3);
    expect(lines.some((l) => /RLIMIT/.test(l))).toBe(false);
    expect(lines[2]).toBe('Error (criu/cr-restore.c:2310): Restoring FAILED.');
  });

  it('recognises a missing address and a damaged image', () => {
    expect(
      diagnoseRestore("(00.1) 1: Error (soccr/soccr.c:499): Can't bind inet socket back: Cannot assign requested address\n")
        .cause,
    ).toBe('address-missing');
    expect(diagnoseRestore('(00.1) Error (criu/image.c:100): Unexpected EOF on (empty-image) inventory.img\n').cause).toBe(
      'image-damaged',
    );
    const magic = diagnoseRestore(
      "(00.069542)      1: Error (criu/image.c:563): Magic doesn't match for tcp-stream-5fdee.img\n(00.07) Error (criu/cr-restore.c:2331): Restoring FAILED.\n",
    );
    expect(magic.cause).toBe('image-damaged');
    expect(magic.summary).toMatch(/tcp-stream-5fdee.img/);
  });

  it('falls back to the first error line, or podman stderr when there is no log', () => {
    const d = diagnoseRestore('(00.1) Error (criu/foo.c:1): Something new\n(00.2) Error (criu/bar.c:2): Restoring FAILED.\n');
    expect(d.cause).toBe('unknown');
    expect(d.summary).toBe('restore failed: Error (criu/foo.c:1): Something new');
    const p = diagnoseRestore('', 'Error: importing checkpoint: archive/tar: invalid tar header');
    expect(p.cause).toBe('archive-damaged');
    const none = diagnoseRestore('', '');
    expect(none.summary).toMatch(/neither/);
  });

  it('formats a diagnosis file naming host, cause and the log', () => {
    const d = diagnoseRestore(SEND_QUEUE_LOG);
    const txt = formatDiagnosis(d, { index: 3, host: 'loveland', logPath: '/x/restore.log', podmanStderr: 'Error: criu failed' });
    expect(txt).toMatch(/^migration 3: restore on loveland failed/);
    expect(txt).toMatch(/cause: send-queue-replay/);
    expect(txt).toMatch(/CRIU restore log: \/x\/restore.log/);
    expect(txt).toMatch(/podman stderr/);
  });

  it("names the lazy engine's failures: the page server's short pipe, and pages lost in flight", () => {
    const tee = diagnoseRestore(
      '(00.734243) Error (criu/page-pipe.c:418): page-pipe: tee: 65536: Operation not permitted\n(00.7343) page-xfer: Session over\n',
    );
    expect(tee.cause).toBe('lazy-pipe-size');
    expect(tee.summary).toMatch(/only 65536 bytes/);
    expect(tee.hint).toMatch(/pipe-max-size/);
    const lost = diagnoseRestore(
      '(00.410763) Error (criu/page-xfer.c:1660): page-xfer: Remote side closed connection\n',
      'criu lazy-pages on loveland exited with 1 after 100/3202 pages',
    );
    expect(lost.cause).toBe('lazy-pages-lost');
    expect(lost.summary).toMatch(/still in flight.*Remote side closed connection/);
    // CRIU 4.2's lazy-pages daemon when the page server went away (seen with P4CF_TEST_LAZY_CUT=1)
    const reset = diagnoseRestore(
      '(00.5) Error (criu/page-xfer.c:1623): page-xfer: Error reading data from page server: Connection reset by peer\n',
      'criu lazy-pages on loveland exited with 1 after 0/0 pages',
    );
    expect(reset.cause).toBe('lazy-pages-lost');
    expect(reset.summary).toMatch(/\(Error reading data from page server: Connection reset by peer\)/);
    expect(diagnoseRestore('', 'the last pages did not arrive within LAZY_PAGES_TIMEOUT 120000 ms').cause).toBe(
      'lazy-pages-lost',
    );
    expect(diagnoseRestore('', 'criu lazy-pages daemon did not start: uffd: no').cause).toBe('lazy-pages-unavailable');
  });
});
