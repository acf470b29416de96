/**
 * The CPU engine's relaxed-SIMD build in real Chromium (Debian's, headless), where visitors run it:
 * the engine's check of relaxed SIMD's int8 dot product passes there, and the relaxed build's 4-bit
 * GEMM over int8 activations (gemmQ4I8, kernels/relaxed.ts) gives the SIMD128 build's gemmQ4 over
 * the same 127-level codes bit for bit: a decode step and every prefill tile size, widths with a
 * partial block, and blocks of zeros, of values too small to invert, with a NaN, with 3e38.
 * (test/unit/cpu-int8-activations.test.ts runs the same comparisons in Node behind V8's flag.)
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedBrowser, launchChromium } from '../../src/cli/browser.ts';
import { buildKernels } from '../../src/cpu-engine/build-kernels.ts';
import {
  hasRelaxedSimd,
  RELAXED_SIMD_CHECK,
  RELAXED_SIMD_CHECK_RESULT,
} from '../../src/cpu-engine/wasm-features.ts';

let browser: LaunchedBrowser;
let simd128: number[];
let relaxed: number[];

beforeAll(async () => {
  simd128 = Array.from(readFileSync(await buildKernels(false, false)));
  relaxed = Array.from(readFileSync(await buildKernels(false, true)));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** Runs in the page (plain JavaScript, as text): mismatching outputs per case. */
const COMPARE = `({ simd128, relaxed, cases }) => {
  const instance = (bytes) => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const k = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { env: { memory } }).exports;
    let top = Math.ceil(k.heapBase() / 16) * 16;
    const alloc = (n) => {
      const at = top;
      top = Math.ceil((at + n) / 16) * 16;
      const need = top - memory.buffer.byteLength;
      if (need > 0) memory.grow(Math.ceil(need / 65536));
      return at;
    };
    return { k, memory, alloc };
  };
  const a = instance(simd128);
  const b = instance(relaxed);
  const results = [];
  let seed = 7;
  const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (const [rows, cols, tokens] of cases) {
    const blocks = Math.ceil(cols / 32);
    const w = Uint8Array.from({ length: rows * blocks * 16 }, () => Math.floor(rand() * 256));
    const ws = Float32Array.from({ length: rows * blocks }, () => rand() * 0.02);
    const x = Float32Array.from({ length: tokens * cols }, () => rand() * 8 - 4);
    if (cols >= 64 && tokens >= 2) x.fill(0, cols, cols + 32);
    if (cols >= 64 && tokens >= 3) for (let i = 0; i < 32; i++) x[2 * cols + 32 + i] = 1e-37 * (i - 16);
    if (tokens >= 4) x[3 * cols + 5] = NaN;
    if (cols >= 64 && tokens >= 5) x[4 * cols + 40] = 3e38;
    const outputs = [a, b].map(({ k, memory, alloc }, i) => {
      const wp = alloc(w.length);
      new Uint8Array(memory.buffer, wp, w.length).set(w);
      const sp = alloc(ws.length * 4);
      new Float32Array(memory.buffer, sp, ws.length).set(ws);
      const xp = alloc(x.length * 4);
      new Float32Array(memory.buffer, xp, x.length).set(x);
      const xq = alloc(tokens * blocks * 64);
      const xs = alloc(tokens * blocks * 4);
      const y = alloc(tokens * rows * 4);
      if (i === 0) {
        k.quantizeActivationsTiled(xq, xs, xp, cols, tokens, 127);
        k.gemmQ4(y, wp, sp, xq, xs, rows, blocks, tokens);
      } else {
        k.quantizeActivationsI8Tiled(xq, xs, xp, cols, tokens);
        k.gemmQ4I8(y, wp, sp, xq, xs, rows, blocks, tokens);
      }
      return new Uint32Array(memory.buffer, y, tokens * rows).slice();
    });
    let differ = 0;
    for (let i = 0; i < outputs[0].length; i++) if (outputs[0][i] !== outputs[1][i]) differ++;
    results.push({ rows, cols, tokens, differ, outputs: outputs[0].length });
  }
  return results;
}`;

describe("the CPU engine's relaxed-SIMD build in Chromium", () => {
  it('the engine trusts relaxed SIMD here: its int8 dot product check computes the right result', async () => {
    const got = await browser.page.evaluate(
      (b) =>
        (new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(b))).exports.f as () => number)(),
      Array.from(RELAXED_SIMD_CHECK),
    );
    expect(got).toBe(RELAXED_SIMD_CHECK_RESULT);
    // And this Node (no relaxed-SIMD flag in the browser project) does not run the relaxed build.
    expect(hasRelaxedSimd()).toBe(false);
  });

  it('gemmQ4I8 over int8 codes = SIMD128 gemmQ4 over the same codes, bit for bit, for 1-32 tokens', async () => {
    const cases: [number, number, number][] = [];
    for (const [rows, cols] of [
      [1, 32],
      [7, 100],
      [13, 288],
      [5, 161],
      [9, 576],
    ])
      for (const tokens of [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 22, 32])
        cases.push([rows!, cols!, tokens]);
    const results = (await browser.page.evaluate(
      `(${COMPARE})(${JSON.stringify({ simd128, relaxed, cases })})`,
    )) as {
      rows: number;
      cols: number;
      tokens: number;
      differ: number;
      outputs: number;
    }[];
    expect(results).toHaveLength(cases.length);
    for (const r of results) {
      expect(r.outputs, `rows=${r.rows} cols=${r.cols} tokens=${r.tokens}`).toBe(r.rows * r.tokens);
      expect(r.differ, `rows=${r.rows} cols=${r.cols} tokens=${r.tokens}`).toBe(0);
    }
  });
});
