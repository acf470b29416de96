/**
 * Issue 12, deliverable 1's relaxed-SIMD question, measured: is the relaxed-SIMD build's 4-bit GEMM
 * over int8 activations (kernels/relaxed.ts: gemmQ4I8, whose products are
 * i16x8.relaxed_dot_i8x16_i7x16_s) faster than the SIMD128 build's gemmQ4 (int16 activation codes),
 * in Chromium, where visitors run it?
 *
 * 1. Checks relaxed SIMD's int8 dot products where they run: this Node (Node 20's V8 needs
 *    --experimental-wasm-relaxed-simd, and then gets i32x4.relaxed_dot_i8x16_i7x16_add_s wrong)
 *    and Chromium.
 * 2. In Chromium: gemmQ4I8's outputs against a scalar int8 reference (exact integer sums; the float
 *    sums in the engine's order), then both GEMMs over every weight matrix of the 135M shape (as
 *    cpu-kernels-gemm.ts: 30 layers of qkv 960x576, o 576x576, gate|up 3072x576, down 576x1536, and
 *    the 49152x576 head; random codes), one thread, ms per token for a decode step (1 token) and a
 *    32-token prefill chunk, rounds interleaved, median and best.
 *
 *   npx tsx bench/experiments/cpu-relaxed-gemm.ts [--rounds 6]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { launchChromium } from '../../src/cli/browser.ts';
import { buildKernels } from '../../src/cpu-engine/build-kernels.ts';
import { hasRelaxedSimd } from '../../src/cpu-engine/wasm-features.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' } } });
const engine = Array.from(readFileSync(await buildKernels(false, false)));
const relaxed = Array.from(readFileSync(await buildKernels(false, true)));

/**
 * (func (result i32)) computing relaxed_dot(a, b, c) with a = [-1 -2 -3 -4, -128 x4, 0...],
 * b = [0 1 2 3, 127 x4, 0...], c = [1000, 0, 0, 0], and returning lane 0 - lane 1: 980 - (-65024).
 */
const DOT_CHECK = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 74, 1, 72, 1, 1,
  123, 253, 12, 255, 254, 253, 252, 128, 128, 128, 128, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 0, 1, 2, 3, 127, 127,
  127, 127, 0, 0, 0, 0, 0, 0, 0, 0, 253, 12, 232, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 253, 147, 2,
  34, 0, 253, 27, 0, 32, 0, 253, 27, 1, 107, 11,
]);
const DOT_WANT = 980 + 65024;

async function dotCheck(bytes: Uint8Array): Promise<string> {
  if (!WebAssembly.validate(bytes)) return 'no relaxed SIMD';
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes));
  const got = (instance.exports.f as () => number)();
  return got === DOT_WANT ? 'relaxed SIMD, correct' : `relaxed SIMD, WRONG: ${got} (want ${DOT_WANT})`;
}
// tsx's loader flags are in execArgv; the V8 flag that matters is --experimental-wasm-relaxed-simd.
const relaxedFlag = process.execArgv.includes('--experimental-wasm-relaxed-simd')
  ? ' (--experimental-wasm-relaxed-simd)'
  : '';
console.log(
  `Node ${process.version}${relaxedFlag}: i32x4.relaxed_dot_i8x16_i7x16_add_s: ${await dotCheck(DOT_CHECK)}; the engine's relaxed builds usable (wasm-features.ts's check of i16x8.relaxed_dot_i8x16_i7x16_s): ${hasRelaxedSimd()}`,
);

/** What runs in the page (plain JavaScript: the page gets it as text). */
const PAGE_SCRIPT = String.raw`async ({ engine, relaxed, dotCheck, dotWant, rounds }) => {
      const check = new Uint8Array(dotCheck);
      const f = new WebAssembly.Instance(new WebAssembly.Module(check)).exports.f;
      console.log(
        navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] + ': relaxed_dot ' + (f() === dotWant ? 'correct' : 'WRONG: ' + f()),
      );

      function instance(bytes) {
        const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
        const k = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { env: { memory } })
          .exports;
        let top = Math.ceil(k.heapBase() / 16) * 16;
        const alloc = (n) => {
          const at = top;
          top = Math.ceil((at + n) / 16) * 16;
          const need = top - memory.buffer.byteLength;
          if (need > 0) memory.grow(Math.ceil(need / 65536));
          return at;
        };
        return { k, memory, alloc };
      }
      let seed = 1;
      const rand = () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed;
      };

      // 1. Correctness: the experiment against a scalar int8 reference, exact integers, the engine's float order.
      {
        const { k, memory, alloc } = instance(relaxed);
        for (const [rows, cols, tokens] of [
          [5, 100, 1],
          [7, 288, 3],
          [3, 161, 9],
          [4, 64, 32],
        ]) {
          const blocks = Math.ceil(cols / 32);
          const w = alloc(rows * blocks * 16);
          const wb = new Uint8Array(memory.buffer, w, rows * blocks * 16);
          for (let i = 0; i < wb.length; i++) wb[i] = rand() >>> 24;
          const ws = alloc(rows * blocks * 4);
          const wsf = new Float32Array(memory.buffer, ws, rows * blocks);
          for (let i = 0; i < wsf.length; i++) wsf[i] = (rand() / 2 ** 32) * 0.02;
          const x = alloc(tokens * cols * 4);
          const xf = new Float32Array(memory.buffer, x, tokens * cols);
          for (let i = 0; i < xf.length; i++) xf[i] = (rand() / 2 ** 32) * 8 - 4;
          const xq = alloc(tokens * blocks * 36);
          const xs = alloc(tokens * blocks * 4);
          const y = alloc(tokens * rows * 4);
          k.quantizeActivationsI8Tiled(xq, xs, x, cols, tokens);
          k.gemmQ4I8(y, w, ws, xq, xs, rows, blocks, tokens);
          const got = new Float32Array(memory.buffer, y, tokens * rows);
          let bad = 0;
          for (let t = 0; t < tokens; t++) {
            for (let r = 0; r < rows; r++) {
              let s = 0;
              for (let b = 0; b < blocks; b++) {
                let m = 0;
                for (let i = b * 32; i < Math.min(cols, b * 32 + 32); i++)
                  m = Math.max(m, Math.abs(xf[t * cols + i]));
                const inv = m > 0 ? Math.fround(127 / m) : 0;
                let dot = 0;
                for (let i = 0; i < 32 && b * 32 + i < cols; i++) {
                  const v = Math.fround(xf[t * cols + b * 32 + i] * inv);
                  let code = Math.round(v);
                  if (Math.abs(v % 1) === 0.5 && code % 2 !== 0) code -= 1;
                  const byte = wb[(r * blocks + b) * 16 + (i >> 1)];
                  dot += ((i & 1 ? byte >> 4 : byte & 15) - 8) * code;
                }
                s = Math.fround(
                  s + Math.fround(dot * Math.fround(wsf[r * blocks + b] * Math.fround(m / 127))),
                );
              }
              if (got[t * rows + r] !== s) bad++;
            }
          }
          console.log(
            'correctness rows=' + rows + ' cols=' + cols + ' tokens=' + tokens + ': ' + (bad === 0 ? 'exact' : bad + ' outputs differ'),
          );
        }
      }

      // 2. Speed over the 135M shapes.
      const H = 576;
      const shapes = [
        ...Array.from({ length: 30 }, () => [
          [960, H],
          [H, H],
          [3072, H],
          [H, 1536],
        ]).flat(),
        [49152, H],
      ];
      function setup(bytes) {
        const { k, memory, alloc } = instance(bytes);
        const mats = shapes.map(([rows, cols]) => {
          const blocks = cols / 32;
          const w = alloc(rows * blocks * 16);
          const u8 = new Uint8Array(memory.buffer, w, rows * blocks * 16);
          for (let i = 0; i < u8.length; i++) u8[i] = rand() >>> 24;
          const ws = alloc(rows * blocks * 4);
          new Float32Array(memory.buffer, ws, rows * blocks).fill(0.01);
          return { rows: rows, blocks, w, ws };
        });
        const x = alloc(32 * 1536 * 4);
        const xf = new Float32Array(memory.buffer, x, 32 * 1536);
        for (let i = 0; i < xf.length; i++) xf[i] = Math.sin(i);
        return { k, mats, x, xq: alloc(32 * 1536 * 2), xs: alloc(32 * 48 * 4), y: alloc(32 * 49152 * 4) };
      }
      const a = setup(engine);
      const b = setup(relaxed);
      const variants = {
        "engine's gemmQ4 (SIMD128, int16 codes)": (t) => {
          for (const m of a.mats) {
            a.k.quantizeActivationsTiled(a.xq, a.xs, a.x, m.blocks * 32, t, 32767);
            a.k.gemmQ4(a.y, m.w, m.ws, a.xq, a.xs, m.rows, m.blocks, t);
          }
        },
        'relaxed SIMD, int8 codes': (t) => {
          for (const m of b.mats) {
            b.k.quantizeActivationsI8Tiled(b.xq, b.xs, b.x, m.blocks * 32, t);
            b.k.gemmQ4I8(b.y, m.w, m.ws, b.xq, b.xs, m.rows, m.blocks, t);
          }
        },
      };
      const times = {};
      for (let round = 0; round <= rounds; round++) {
        for (const tokens of [1, 32]) {
          for (const [name, run] of Object.entries(variants)) {
            const reps = tokens === 1 ? 8 : 1;
            const t0 = performance.now();
            for (let r = 0; r < reps; r++) run(tokens);
            const ms = (performance.now() - t0) / reps / tokens;
            // Round 0 warms up.
            if (round > 0)
              (times[name + ', ' + (tokens === 1 ? 'decode step' : '32-token chunk')] ??= []).push(ms);
          }
        }
      }
      console.log('| kernel, 135M shapes, one thread | ms per token, median | best |');
      console.log('| --- | ---: | ---: |');
      for (const [key, ms] of Object.entries(times)) {
        ms.sort((x, y) => x - y);
        console.log('| ' + key + ' | ' + ms[ms.length >> 1].toFixed(2) + ' | ' + ms[0].toFixed(2) + ' |');
      }
    }`;

const browser = await launchChromium();
try {
  const { page } = browser;
  page.on('console', (message) => console.log(message.text()));
  await page.evaluate(
    `(${PAGE_SCRIPT})(${JSON.stringify({ engine, relaxed, dotCheck: Array.from(DOT_CHECK), dotWant: DOT_WANT, rounds: Number(values.rounds) })})`,
  );
} finally {
  await browser.close();
}
