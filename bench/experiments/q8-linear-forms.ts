/**
 * One q8 Linear, y = x W with x [1, K] (a decode step), in four weight forms that give the same
 * integers: uint8 codes with a per-column zero point of 128 (what edgetier writes), uint8 with one
 * scalar zero point, int8 codes with a zero point of 0, int8 with no zero point input. Each form is
 * DynamicQuantizeLinear + MatMulInteger + rescale, which ORT fuses into DynamicQuantizeMatMul. Times
 * every form in onnxruntime-web (WASM, in Node) and onnxruntime-node at one thread, rounds
 * interleaved, and prints the median ms per run and ns per multiply-add.
 *
 *   npx tsx bench/experiments/q8-linear-forms.ts [--k 576] [--n 576,3072,49152] [--rounds 3]
 *
 * Caveat: a matrix smaller than the last-level cache stays cached across runs here, while a decode
 * step streams every layer's weights; the real-model check is bench/experiments/decode-step-time.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { eagerBytes, GraphBuilder } from '../../src/builder/graph/builder.ts';
import { ElemType } from '../../src/builder/onnx/model.ts';
import { writeModel } from '../../src/builder/onnx/writer.ts';

const FORMS = [
  'uint8, zero point per column',
  'uint8, scalar zero point',
  'int8, zero point 0',
  'int8, no zero point',
];

async function writeLinear(file: string, k: number, n: number, form: number): Promise<void> {
  const g = new GraphBuilder();
  const x = g.input('x', ElemType.FLOAT, [1, k]);
  const signed = form >= 2;
  const codes = new Uint8Array(k * n);
  for (let i = 0; i < codes.length; i++) {
    const q = Math.round(Math.sin(i * 1.7) * 127);
    codes[i] = (signed ? q : q + 128) & 255;
  }
  const w = g.initializer('w', signed ? ElemType.INT8 : ElemType.UINT8, [k, n], eagerBytes(codes));
  const scales = g.f32(new Float32Array(n).fill(0.01), [n]);
  const zeroPoint = [
    [g.initializer('zp', ElemType.UINT8, [n], eagerBytes(new Uint8Array(n).fill(128)))],
    [g.initializer('zp', ElemType.UINT8, [], eagerBytes(new Uint8Array([128])))],
    [g.initializer('zp', ElemType.INT8, [], eagerBytes(new Uint8Array([0])))],
    [],
  ][form]!;
  const [xq, xScale, xZero] = g.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 }) as [
    string,
    string,
    string,
  ];
  const acc = g.op('MatMulInteger', [xq, w, xZero, ...zeroPoint]);
  const y = g.op('Mul', [g.op('Cast', [acc], { to: ElemType.FLOAT }), g.op('Mul', [xScale, scales])]);
  g.output(y, ElemType.FLOAT, [1, n]);
  await writeModel(
    {
      irVersion: 8,
      producerName: 'edgetier q8-linear-forms',
      producerVersion: '0',
      opsets: [{ domain: '', version: 17 }],
      graph: g.graph('linear'),
      metadata: {},
    },
    file,
    null,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      k: { type: 'string', default: '576' },
      n: { type: 'string', default: '576,3072,49152' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const k = Number(values.k);
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.logLevel = 'error';
  const dir = mkdtempSync(join(tmpdir(), 'edgetier-q8-forms-'));
  const x = Float32Array.from({ length: k }, (_, i) => Math.cos(i));
  const cases: { label: string; macs: number; run: () => Promise<unknown>; ms: number[] }[] = [];
  try {
    for (const n of values.n.split(',').map(Number)) {
      for (const [form, name] of FORMS.entries()) {
        const file = join(dir, `linear-${n}-${form}.onnx`);
        await writeLinear(file, k, n, form);
        const web = await ortWeb.InferenceSession.create(file, { logSeverityLevel: 3 });
        const webX = new ortWeb.Tensor('float32', x, [1, k]);
        cases.push({
          label: `onnxruntime-web  N=${n} ${name}`,
          macs: k * n,
          run: () => web.run({ x: webX }),
          ms: [],
        });
        const native = await ortNode.InferenceSession.create(file, {
          intraOpNumThreads: 1,
          logSeverityLevel: 3,
        });
        const nativeX = new ortNode.Tensor('float32', x, [1, k]);
        cases.push({
          label: `onnxruntime-node N=${n} ${name}`,
          macs: k * n,
          run: () => native.run({ x: nativeX }),
          ms: [],
        });
      }
    }
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const c of cases) {
        const iterations = Math.max(5, Math.round(2e8 / c.macs));
        for (let i = 0; i < 3; i++) await c.run();
        const t0 = performance.now();
        for (let i = 0; i < iterations; i++) await c.run();
        c.ms.push((performance.now() - t0) / iterations);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const c of cases) {
    const ms = [...c.ms].sort((a, b) => a - b)[c.ms.length >> 1]!;
    console.log(`${c.label.padEnd(58)} ${ms.toFixed(3)} ms  ${((ms * 1e6) / c.macs).toFixed(3)} ns/MAC`);
  }
}

await main();
