import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

// Node 20 runs WebAssembly relaxed SIMD only behind this V8 flag (Chromium and newer Node have it on):
// the unit tests run the CPU engine's relaxed-SIMD kernels builds too, where this Node takes the flag.
const RELAXED_SIMD_FLAG = '--experimental-wasm-relaxed-simd';
const relaxedSimdArgv =
  spawnSync(process.execPath, [RELAXED_SIMD_FLAG, '-e', ''], { stdio: 'ignore' }).status === 0
    ? [RELAXED_SIMD_FLAG]
    : [];

// Two projects: `unit` runs in Node against real onnxruntime-node, real files and real local HTTP
// servers; `browser` drives Debian's real Chromium through playwright-core against a real server.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          execArgv: relaxedSimdArgv,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          // expect.poll waits for the page or a server to get somewhere; vitest's default of 1 s is
          // shorter than a first tier load on a loaded CI machine (a Test connection failed there).
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
