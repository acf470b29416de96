/** Runs a decoder ONNX file through onnxruntime-node with the I/O transformers.js uses. */
import * as ort from 'onnxruntime-node';
import { f16ToF32 } from '../../src/builder/half.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';

export type Past = Record<string, ort.Tensor>;

export function emptyPast(spec: ModelSpec, batch: number, half: boolean): Past {
  const past: Past = {};
  for (let i = 0; i < spec.numLayers; i++) {
    for (const kv of ['key', 'value']) {
      past[`past_key_values.${i}.${kv}`] = half
        ? new ort.Tensor('float16', new Uint16Array(0), [batch, spec.numKvHeads, 0, spec.headDim])
        : new ort.Tensor('float32', new Float32Array(0), [batch, spec.numKvHeads, 0, spec.headDim]);
    }
  }
  return past;
}

const i64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

export interface StepResult {
  /** [batch][seq][vocab] as float32 numbers. */
  logits: number[][][];
  past: Past;
}

export async function step(
  session: ort.InferenceSession,
  ids: number[][],
  mask: number[][],
  positions: number[][],
  past: Past,
  /** Logits for the last N positions; 0 (the default) for every position. */
  keepLogits = 0,
): Promise<StepResult> {
  const out = await session.run({
    input_ids: i64(ids),
    attention_mask: i64(mask),
    position_ids: i64(positions),
    num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.from([BigInt(keepLogits)]), []),
    ...past,
  });
  const logits = out.logits!;
  const [b, s, v] = logits.dims as [number, number, number];
  const flat =
    logits.type === 'float16' ? f16ToF32(logits.data as Uint16Array) : (logits.data as Float32Array);
  const rows: number[][][] = [];
  for (let i = 0; i < b; i++) {
    const seq: number[][] = [];
    for (let j = 0; j < s; j++) seq.push([...flat.subarray((i * s + j) * v, (i * s + j + 1) * v)]);
    rows.push(seq);
  }
  const next: Past = {};
  for (const [name, t] of Object.entries(out)) {
    if (name.startsWith('present.')) next[name.replace('present.', 'past_key_values.')] = t;
  }
  return { logits: rows, past: next };
}

/** Largest |a - b| over the positions where `keep[b][s]` is 1, and the largest |b| there. */
export function maxDiff(a: number[][][], b: number[][][], keep: number[][]): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < a[i]!.length; j++) {
      if (!keep[i]![j]) continue;
      a[i]![j]!.forEach((x, k) => {
        const y = b[i]![j]![k]!;
        diff = Math.max(diff, Math.abs(x - y));
        scale = Math.max(scale, Math.abs(y));
      });
    }
  }
  return { diff, scale };
}
