/**
 * Prefill CPU time of the CPU engine on one thread with two or more kernel builds side by side in
 * one process (`--wasm a.wasm,b.wasm`; e.g. a build of the previous source), runs interleaved
 * (A B A B …) so that a busy machine slows both alike: median and minimum CPU ms (user + system of
 * this process) per prefill of `--pp` tokens and per decode step after it (`--steps`), and whether the
 * builds' prefill logits agree bit for bit.
 *
 *   npx tsx bench/experiments/cpu-prefill-ab.ts --wasm old.wasm,new.wasm [--dtype q4,q8] [--pp 22] [--steps 8] [--rounds 9] <model-dir>
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DTYPE_FILE } from '../../src/core/dtypes.ts';
import { CpuDecoder } from '../../src/cpu-engine/decoder.ts';
import type { CpuDtype } from '../../src/cpu-engine/model-weights.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    wasm: { type: 'string' },
    dtype: { type: 'string', default: 'q4,q8' },
    pp: { type: 'string', default: '22' },
    rounds: { type: 'string', default: '9' },
    steps: { type: 'string', default: '8' },
  },
});
const dir = positionals[0];
if (!dir || !values.wasm) throw new Error('give --wasm a.wasm,b.wasm and one model folder');
const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8'));
const prompt = Array.from({ length: Number(values.pp) }, (_, i) => (100 + i * 7) % config.vocab_size);
const files = values.wasm.split(',');
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;

console.log(
  `| kernels | dtype | prefill ${prompt.length} CPU ms (median) | min | decode step CPU ms (median) | min | same logits |`,
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
for (const dtype of values.dtype.split(',') as CpuDtype[]) {
  const onnx = readFileSync(`${dir}/onnx/${DTYPE_FILE[dtype]}`);
  const decoders: CpuDecoder[] = [];
  for (const file of files)
    decoders.push(
      await CpuDecoder.fromFiles(config, onnx, dtype, await WebAssembly.compile(readFileSync(file))),
    );
  const times = decoders.map((): number[] => []);
  const stepTimes = decoders.map((): number[] => []);
  const steps = Number(values.steps);
  const logits: Float32Array[] = [];
  for (let round = 0; round <= Number(values.rounds); round++) {
    decoders.forEach((decoder, i) => {
      decoder.truncate(0);
      const t0 = cpuMs();
      logits[i] = decoder.forward(prompt);
      if (round > 0) times[i]!.push(cpuMs() - t0);
      let next = 1;
      const s0 = cpuMs();
      for (let s = 0; s < steps; s++) {
        const out = decoder.forward([next]);
        next = out.indexOf(Math.max(...out));
      }
      if (round > 0 && steps > 0) stepTimes[i]!.push((cpuMs() - s0) / steps);
    });
  }
  decoders.forEach((_, i) => {
    const same = logits[i]!.every((v, j) => Object.is(v, logits[0]![j]));
    console.log(
      `| ${files[i]} | ${dtype} | ${median(times[i]!).toFixed(0)} | ${Math.min(...times[i]!).toFixed(0)} | ${steps > 0 ? median(stepTimes[i]!).toFixed(2) : '-'} | ${steps > 0 ? Math.min(...stepTimes[i]!).toFixed(2) : '-'} | ${same} |`,
    );
  });
}
