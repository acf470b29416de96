#!/usr/bin/env node
// Entry point for `npx edgetier`. The CLI is TypeScript; tsx compiles it on the fly so that the
// command works right after `npm ci`, with no build step.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// Node 20 runs WebAssembly relaxed SIMD (the CPU engine's faster int8 kernels) only behind this V8
// flag, on in Chromium and Node 22; set before anything compiles. The engine still runs the
// instruction once and keeps SIMD128 where it computes wrong (src/cpu-engine/wasm-features.ts).
if (process.versions.node.split('.')[0] === '20') setFlagsFromString('--experimental-wasm-relaxed-simd');
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
