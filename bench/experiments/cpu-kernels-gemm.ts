/**
 * The CPU engine's quantised GEMM kernels alone, over every weight matrix of a model shape (the 135M
 * twin's by default: 30 layers of qkv 960x576, o 576x576, gate|up 3072x576, down 576x1536, and the
 * 49152x576 head), random codes: CPU time (user + system of this process; one thread) per pass for a
 * decode step (1 token) and per token of a 32-token prefill chunk. `--wasm a.wasm,b.wasm` times
 * built kernel modules side by side (rounds interleaved), e.g. a build of the previous source; by
 * default the current source's SIMD128 build, and its relaxed-SIMD build where this Node has relaxed
 * SIMD (Node 20: `node --experimental-wasm-relaxed-simd --import tsx …`). Dtype `q4-int8`: 4-bit
 * weights over int8 activation codes (accuracy_level 4), with the relaxed build's int8 GEMM where the
 * module has it.
 *
 *   npx tsx bench/experiments/cpu-kernels-gemm.ts [--dtype q4,q4-int8,q8] [--tokens 1,32] [--rounds 3] [--wasm …]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { kernelModule } from '../../src/cpu-engine/node-kernels.ts';
import { hasRelaxedSimd } from '../../src/cpu-engine/wasm-features.ts';
import { type KernelExports, WasmKernels } from '../../src/cpu-engine/wasm-kernels.ts';

const { values } = parseArgs({
  options: {
    dtype: { type: 'string', default: 'q4,q4-int8,q8' },
    tokens: { type: 'string', default: '1,32' },
    rounds: { type: 'string', default: '3' },
    layers: { type: 'string', default: '30' },
    wasm: { type: 'string' },
  },
});

const H = 576;
const SHAPES: [rows: number, cols: number][] = [
  [960, H],
  [H, H],
  [3072, H],
  [H, 1536],
];
const HEAD: [number, number] = [49152, H];

interface Setup {
  label: string;
  run(dtype: string, tokens: number): void;
}

async function setup(label: string, module?: WebAssembly.Module): Promise<Setup> {
  const kx = await WasmKernels.create(module ?? (await kernelModule()));
  let seed = 1;
  const fill = (ptr: number, bytes: number) => {
    const u8 = kx.u8(ptr, bytes);
    for (let i = 0; i < bytes; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      u8[i] = seed >>> 24;
    }
  };
  const mats = [...Array.from({ length: Number(values.layers) }, () => SHAPES).flat(), HEAD].map(
    ([rows, cols]) => {
      const blocks = Math.ceil(cols / 32);
      const q4 = kx.alloc(rows * blocks * 16);
      fill(q4, rows * blocks * 16);
      const q4s = kx.putF32(new Float32Array(rows * blocks).fill(0.01));
      const q8 = kx.alloc(rows * blocks * 32);
      fill(q8, rows * blocks * 32);
      const q8s = kx.putF32(new Float32Array(rows).fill(0.01));
      return { rows, blocks, q4, q4s, q8, q8s };
    },
  );
  const maxT = 32;
  const x = kx.putF32(Float32Array.from({ length: maxT * 1536 }, (_, i) => Math.sin(i)));
  const xq = kx.alloc(maxT * 1536 * 2);
  const xs = kx.alloc(maxT * 48 * 4);
  const y = kx.alloc(maxT * 49152 * 4);
  return {
    label,
    run(dtype, tokens) {
      const k = kx.k;
      for (const m of mats) {
        // A build before the tiled activation layout has no quantizeActivationsTiled: one row at a time.
        if (dtype === 'q4-int8' && k.quantizeActivationsI8Tiled && k.gemmQ4I8) {
          k.quantizeActivationsI8Tiled(xq, xs, x, m.blocks * 32, tokens);
          k.gemmQ4I8(y, m.q4, m.q4s, xq, xs, m.rows, m.blocks, tokens);
          continue;
        }
        if ('quantizeActivationsTiled' in k)
          k.quantizeActivationsTiled(xq, xs, x, m.blocks * 32, tokens, dtype === 'q4-int8' ? 127 : 32767);
        else {
          for (let t = 0; t < tokens; t++)
            (k as KernelExports).quantizeActivations(
              xq + t * m.blocks * 64,
              xs + t * m.blocks * 4,
              x + t * m.blocks * 128,
              m.blocks * 32,
            );
        }
        if (dtype !== 'q8') k.gemmQ4(y, m.q4, m.q4s, xq, xs, m.rows, m.blocks, tokens);
        else k.gemmQ8(y, m.q8, m.q8s, xq, xs, m.rows, m.blocks, tokens);
      }
    },
  };
}

const setups: Setup[] = [];
if (values.wasm) {
  for (const file of values.wasm.split(','))
    setups.push(await setup(file, await WebAssembly.compile(readFileSync(file))));
} else {
  setups.push(await setup('current source, SIMD128', await kernelModule(false, false)));
  if (hasRelaxedSimd())
    setups.push(await setup('current source, relaxed SIMD', await kernelModule(false, true)));
}

const results = new Map<string, number[]>();
for (let round = 0; round <= Number(values.rounds); round++) {
  for (const dtype of values.dtype.split(',')) {
    for (const tokens of values.tokens.split(',').map(Number)) {
      for (const s of setups) {
        const reps = tokens === 1 ? 8 : 1;
        const cpu0 = process.cpuUsage();
        for (let r = 0; r < reps; r++) s.run(dtype, tokens);
        const cpu = process.cpuUsage(cpu0);
        const ms = (cpu.user + cpu.system) / 1000 / reps / tokens;
        const key = `${s.label} ${dtype} tokens=${tokens}`;
        if (round > 0) results.set(key, [...(results.get(key) ?? []), ms]);
      }
    }
  }
}
console.log('| kernels | CPU ms per token (median of rounds) |');
console.log('| --- | ---: |');
for (const [key, ms] of results) {
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(`| ${key} | ${sorted[sorted.length >> 1]!.toFixed(2)} |`);
}
