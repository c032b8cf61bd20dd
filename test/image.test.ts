// Server image: built from the host's node + ldd libraries + bundled server, run in a test network
// namespace, copied by id to a separate podman storage (stands in for the other server).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isRoot } from './helpers/env.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { sh } from '../lib/hosts/quote.ts';
import type { Host } from '../lib/hosts/types.ts';
import { bundleRemote } from '../lib/hosts/bundle.ts';
import {
  ensureImageOn,
  ensureServerImage,
  IMAGE_NODE_FLAGS,
  inspectImage,
  parseLdd,
  SOURCE_HASH_LABEL,
} from '../experiments/workload/image.ts';
import { waitFor } from '../lib/run/poll.ts';
import { loadConfig } from '../lib/config/load.ts';
import { createContext } from '../lib/run/context.ts';
import { createLogger } from '../lib/run/log.ts';
import { createCleanup } from '../lib/run/cleanup.ts';
import { openState } from '../lib/run/rundir.ts';
import { phase as imagesPhase } from '../experiments/phases/images.ts';

if (!isRoot) console.warn('image.test: skipping the podman/namespace tests: they need root (podman storage, ip netns)');

const projectDir = resolve(import.meta.dirname, '..');
const IMAGE = 'localhost/p4wl-stream-server:test';
const NS = 'p4wl-img';
const CONTAINER = 'p4wl-server';
const tmp = mkdtempSync(join(tmpdir(), 'p4wl-image-'));
const local = createLocalHost();

// A host whose podman uses its own storage: same machine, but the image is genuinely absent there.
const storeDir = join(tmp, 'store');
const storageConf = join(tmp, 'storage.conf');
const other: Host = {
  ...local,
  name: 'other',
  exec: (cmd, o = {}) => local.exec(cmd, { ...o, env: { ...o.env, CONTAINERS_STORAGE_CONF: storageConf } }),
};

describe('parseLdd', () => {
  it('lists libraries and the loader, skips the vdso, refuses a missing library', () => {
    const text =
      '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n';
    expect(parseLdd(text)).toEqual(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
    expect(() => parseLdd('\tlibfoo.so => not found\n')).toThrow(/libfoo/);
  });
});

describe.skipIf(!isRoot)('server image (root)', () => {
  let bundleFile: string;
  beforeAll(async () => {
    bundleFile = join(await bundleRemote(projectDir, { require: ['stream-server.mjs'] }), 'stream-server.mjs');
    mkdirSync(storeDir, { recursive: true });
    writeFileSync(storageConf, `[storage]\ndriver = "vfs"\nrunroot = "${storeDir}/run"\ngraphroot = "${storeDir}/graph"\n`);
  });
  afterAll(async () => {
    await local.exec(sh`podman rm -f ${CONTAINER}`, { allowFail: true, quiet: true });
    await local.exec(sh`podman rmi -f ${IMAGE}`, { allowFail: true, quiet: true });
    await other.exec(sh`podman rmi -a -f`, { allowFail: true, quiet: true });
    await local.exec(sh`ip netns del ${NS}`, { allowFail: true, quiet: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('builds the image, labels it with the source hash, and skips an unchanged rebuild', async () => {
    await local.exec(sh`podman rmi -f ${IMAGE}`, { allowFail: true, quiet: true });
    const first = await ensureServerImage(local, { image: IMAGE, bundleFile, workDir: join(tmp, 'build') });
    expect(first.built).toBe(true);
    expect(first.id).toMatch(/^[0-9a-f]{64}$/);
    const info = await inspectImage(local, IMAGE);
    expect(info?.sourceHash).toBe(first.sourceHash);
    const again = await ensureServerImage(local, { image: IMAGE, bundleFile, workDir: join(tmp, 'build') });
    expect(again).toMatchObject({ built: false, id: first.id });
    const ep = await local.exec(
      sh`podman image inspect --format ${'{{json .Config.Entrypoint}} {{index .Labels "' + SOURCE_HASH_LABEL + '"}}'} ${IMAGE}`,
    );
    expect(ep.stdout).toContain(JSON.stringify(['/usr/local/bin/node', ...IMAGE_NODE_FLAGS, '/app/stream-server.mjs']));
  });

  it('a rebuild (the source changed) removes the image the tag named before: nothing left behind per rebuild', async () => {
    const before = await inspectImage(local, IMAGE);
    const changed = join(tmp, 'stream-server.changed.mjs');
    writeFileSync(changed, `${readFileSync(bundleFile, 'utf8')}\n// changed\n`);
    const next = await ensureServerImage(local, { image: IMAGE, bundleFile: changed, workDir: join(tmp, 'build') });
    expect(next.built).toBe(true);
    expect(next.id).not.toBe(before?.id);
    const exists = (id: string) => local.exec(sh`podman image exists ${id}`, { allowFail: true, quiet: true });
    expect((await exists(before!.id)).code, 'the replaced image is gone').not.toBe(0);
    // back to the bundle the other tests use: the changed one goes too
    const back = await ensureServerImage(local, { image: IMAGE, bundleFile, workDir: join(tmp, 'build') });
    expect(back.built).toBe(true);
    expect((await exists(next.id)).code).not.toBe(0);
  });

  it('a container from it serves /health inside a test network namespace', async () => {
    await local.exec(sh`ip netns del ${NS}`, { allowFail: true, quiet: true });
    await local.exec(sh`ip netns add ${NS} && ip -n ${NS} link set lo up`);
    await local.exec(
      sh`nsenter --net=/run/netns/${NS} podman run -d --rm --pull=never --name ${CONTAINER} --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 ${IMAGE} --port 8080 --metrics-port 8081`,
    );
    const body = await waitFor(
      '/health in the namespace',
      async () => {
        const r = await local.exec(sh`ip netns exec ${NS} curl -sf --max-time 1 http://127.0.0.1:8080/health`, {
          allowFail: true,
          quiet: true,
        });
        return r.code === 0 ? r.stdout : undefined;
      },
      20_000,
      300,
    );
    expect(JSON.parse(body)).toMatchObject({ status: 'ok', clients: 0, quiesced: false });
    const metrics = await local.exec(sh`ip netns exec ${NS} curl -sf --max-time 2 http://127.0.0.1:8081/metrics`);
    expect(metrics.stdout).toMatch(/^stream_quiesced 0$/m);
    // Not reachable from the root namespace: it really lives in p4wl-img.
    const outside = await local.exec(sh`curl -sf --max-time 1 http://127.0.0.1:8080/health`, { allowFail: true, quiet: true });
    expect(outside.stdout).not.toContain('"quiesced"');
    await local.exec(sh`podman rm -f ${CONTAINER}`);
  });

  it('ensureImageOn: present target only tags; absent target gets save → transfer → load with the same id', async () => {
    const same = await ensureImageOn(local, local, IMAGE);
    expect(same.copied).toBe(false);
    expect(await inspectImage(other, IMAGE)).toBeUndefined();
    const copied = await ensureImageOn(local, other, IMAGE, { sourceTmp: tmp, targetTmp: tmp });
    expect(copied.copied).toBe(true);
    expect(copied.bytes).toBeGreaterThan(10_000_000); // node binary + libraries
    const there = await inspectImage(other, IMAGE);
    expect(there?.id).toBe(copied.id);
    expect((await ensureImageOn(local, other, IMAGE)).copied).toBe(false);
    await expect(ensureImageOn(local, other, 'localhost/p4wl-absent:none')).rejects.toThrow(/does not exist.*build it/);
  });

  it('images phase: builds on lakewood only when the source changed, image present on loveland, state recorded', async () => {
    const log = createLogger({ silent: true });
    const cleanup = createCleanup({ log });
    const loaded = loadConfig({
      cwd: projectDir,
      env: { SERVER_IMAGE: IMAGE, REMOTE_PROJECT_DIR: join(tmp, 'hosts', '{host}') },
    });
    const state = openState();
    const ctx = createContext({
      loaded,
      dir: join(tmp, 'run'),
      log,
      cleanup,
      state,
      makeHost: (n) => createLocalHost({ log, cleanup }, n),
    });
    await imagesPhase.run(ctx);
    const first = state.get<{ id: string; built: boolean; copiedTo: string[] }>('serverImage')!;
    // built above with the same bundle; one podman storage for every local server: nothing to copy
    expect(first).toMatchObject({ built: false, copiedTo: [] });
    await local.exec(sh`podman rmi -f ${IMAGE}`, { quiet: true });
    await imagesPhase.run(ctx);
    const second = state.get<{ id: string; built: boolean }>('serverImage')!;
    expect(second.built).toBe(true);
    expect((await inspectImage(local, IMAGE))?.id).toBe(second.id);
    await cleanup.runAll('test end');
  });
});
