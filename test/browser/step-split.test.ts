/**
 * `edgetier profile --runtime browser`: the engine worker in real Chromium counts its ORT runs, so a
 * decode step splits into time inside session.run and time between runs. Structure only: no
 * assertion on speed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserStepSplit } from '../../src/bench/browser-step-split.ts';

const ROOT = resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgetier-split-test-'));
  execFileSync('node', [join(ROOT, 'bin/edgetier.mjs'), 'synth', 'tiny', '--out', dir, '--dtype', 'q8'], {
    stdio: 'ignore',
  });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('browser step split', () => {
  it('counts the prompt run and the decode runs inside the worker, on the planned CPU build', async () => {
    const split = await browserStepSplit({ dir, dtype: 'q8', threads: 1, promptTokens: 5, steps: 4 });
    expect(split).toMatchObject({ dtype: 'q8', threads: 1, build: 'jspi', promptTokens: 5, steps: 4 });
    expect(split.prefillOrtMs).toBeGreaterThan(0);
    expect(split.decodeOrtMs).toBeGreaterThan(0);
    expect(split.decodeOrtMedianMs).toBeGreaterThan(0);
    expect(split.betweenRunsMs).toBeCloseTo(split.decodeStepMs - split.decodeOrtMs, 9);
  });
});
