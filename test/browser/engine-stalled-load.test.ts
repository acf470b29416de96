/**
 * A download that stalls (a server or a network that stops sending mid-file) through the real
 * engine worker in Chromium. The worker is not stuck (its event loop runs), so it acknowledges Stop,
 * but its load never ends: choosing another model must still load that model, not wait behind it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserEngine } from '../../src/cli/browser-engine.ts';
import { failureOf } from '../helpers/failure.ts';

const ROOT = resolve(import.meta.dirname, '../..');

let dir: string;
let tiny: string;
let stalling: string;
let engine: BrowserEngine;
/** The stalled downloads, held open until the end. */
const held: ServerResponse[] = [];
let stalledOnce: () => void;
const stalled = new Promise<void>((done) => {
  stalledOnce = done;
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-stalled-load-'));
  tiny = join(dir, 'tiny');
  execFileSync('node', [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', tiny, '--dtype', 'fp32'], {
    stdio: 'ignore',
  });
  stalling = join(dir, 'stalling');
  cpSync(tiny, stalling, { recursive: true });
  engine = await BrowserEngine.start({
    intercept: (request, response) => {
      if (!request.url?.startsWith('/models/stalling/onnx/')) return false;
      // Headers and a first piece, then nothing: the download neither ends nor fails.
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': '1000000' });
      response.write(Buffer.alloc(1000));
      held.push(response);
      stalledOnce();
      return true;
    },
  });
});

afterAll(async () => {
  for (const response of held) response.destroy();
  await engine?.unload().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('a model download that stalls', () => {
  it('does not block a model change: the next model loads and answers', async () => {
    const first = failureOf(
      engine.load({ source: { kind: 'path', path: stalling }, device: 'wasm', dtype: 'fp32' }),
    );
    await stalled;
    // A hang is the failure this test guards against: give the next load a minute, then say so.
    const next = engine.load({ source: { kind: 'path', path: tiny }, device: 'wasm', dtype: 'fp32' });
    const outcome = await Promise.race([
      next.then(() => 'loaded'),
      new Promise((done) => setTimeout(() => done('still waiting after 60 s'), 60_000)),
    ]);
    expect(outcome).toBe('loaded');
    expect(await first).toEqual({
      code: 'aborted',
      message: 'Stopped: another model was chosen before this one finished loading.',
    });
    const answer = await engine.generate({ prompt: 'hello', sampling: { maxNewTokens: 3 } });
    expect(answer.outputIds).toHaveLength(3);
  });
});
