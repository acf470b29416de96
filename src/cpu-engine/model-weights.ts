/**
 * Finds the weights of a decoder the converter wrote (src/builder/graph/decoder.ts, linear.ts) among an
 * ONNX file's initializers, by the names and shapes the converter gives them for each dtype, and
 * copies them into the engine's WebAssembly memory in the layouts the kernels read (layouts.ts).
 *
 * The file must hold exactly that set: a missing tensor, a wrong type or shape, or an initializer the
 * converter would not have written (another exporter's graph) is refused by name, so the engine never
 * runs a graph it only half understands. The graph's own constants (`const_*`: RoPE frequencies,
 * shapes, the rotate_half matrix) are recomputed from config.json instead of read.
 */
import { Q4_BLOCK, Q8_ZERO_POINT } from '../builder/quantize.ts';
import { CPU_DTYPES } from '../core/cpu-runtime-plan.ts';
import { EdgetierError } from '../core/errors.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import { blocksOf, q8Rows, transposeInto } from './layouts.ts';
import type { OnnxInitializers, StoredTensor } from './onnx-reader.ts';
import type { WasmKernels } from './wasm-kernels.ts';

/** The dtypes the CPU engine runs (float32 activations): one list, the catalog's too. */
export { CPU_DTYPES };
export type CpuDtype = (typeof CPU_DTYPES)[number];

const FLOAT = 1;
const UINT8 = 2;
const FLOAT16 = 10;
const CONSTANT = /^const_(f32|i64|f16)(_\d+)?$/;

/** A Linear layer y = W x in the memory, W [rows, cols]. */
export type LinearWeights =
  | { kind: 'f32'; rows: number; cols: number; w: number }
  | { kind: 'q4' | 'q8'; rows: number; cols: number; blocks: number; w: number; scales: number };

export interface LayerWeights {
  inputNorm: number;
  postNorm: number;
  /** Qwen3. */
  qNorm: number | null;
  kNorm: number | null;
  /** Qwen2: [q | k | v] bias. */
  qkvBias: number | null;
  qkv: LinearWeights;
  o: LinearWeights;
  gateUp: LinearWeights;
  down: LinearWeights;
}

/** Token rows to gather: float32 [vocab, hidden], or 8-bit rows in the q8 GEMV layout with [vocab] scales. */
export type EmbeddingWeights = { kind: 'f32'; table: number } | { kind: 'q8'; rows: number; scales: number };

export interface ModelWeights {
  embedding: EmbeddingWeights;
  layers: LayerWeights[];
  finalNorm: number;
  head: LinearWeights;
}

/** Takes tensors by name, checking type and shape, and remembers which it took. */
class Initializers {
  private readonly taken = new Set<string>();

  constructor(
    private readonly file: OnnxInitializers,
    private readonly dtype: CpuDtype,
  ) {}

  has(name: string): boolean {
    return this.file.initializers.has(name);
  }

  /** The stored dims of a tensor that exists (checked again when it is taken). */
  dims(name: string): number[] {
    return this.file.initializers.get(name)?.dims ?? [];
  }

  take(name: string, elemType: number, dims: readonly number[]): StoredTensor {
    const t = this.file.initializers.get(name);
    if (!t) {
      throw new EdgetierError(
        'unsupported_architecture',
        `The ${this.dtype} ONNX file has no initializer ${name}, which the CPU engine expects in a graph edgetier converted: convert the model with edgetier, or run it on ORT.`,
      );
    }
    if (t.elemType === FLOAT16 && elemType === FLOAT) {
      throw new EdgetierError(
        'unsupported_dtype',
        `Initializer ${name} is float16: the CPU engine runs fp32, q8 and q4 files only.`,
      );
    }
    const want = dims.reduce((a, b) => a * b, 1) * (elemType === FLOAT ? 4 : 1);
    if (t.elemType !== elemType || t.dims.join() !== dims.join() || t.data.length !== want) {
      throw new EdgetierError(
        'shape_mismatch',
        `Initializer ${name} is type ${t.elemType} [${t.dims.join(', ')}] (${t.data.length} bytes), but config.json implies type ${elemType} [${dims.join(', ')}].`,
      );
    }
    this.taken.add(name);
    return t;
  }

  /** Refuses the file when it holds initializers nothing took. */
  checkAllTaken(): void {
    const left = [...this.file.initializers.keys()].filter((n) => !this.taken.has(n) && !CONSTANT.test(n));
    if (left.length > 0) {
      // Names come from the file: a long one is cut, so the message (shown by the app) stays a line.
      const clip = (n: string) => (n.length > 80 ? `${n.slice(0, 79)}…` : n);
      const shown =
        left.slice(0, 3).map(clip).join(', ') + (left.length > 3 ? `, and ${left.length - 3} more` : '');
      throw new EdgetierError(
        'unsupported_architecture',
        `The ${this.dtype} ONNX file has initializers the CPU engine does not recognise (${shown}): it runs only graphs edgetier converted; run this one on ORT.`,
      );
    }
  }
}

/** A plan: what to copy where, validated before anything is copied. */
type LinearPlan =
  | { kind: 'f32'; rows: number; cols: number; wT: StoredTensor }
  | { kind: 'q4'; rows: number; cols: number; packed: StoredTensor; scales: StoredTensor }
  | { kind: 'q8'; rows: number; cols: number; codes: StoredTensor[]; scales: StoredTensor[] };

function planLinear(
  init: Initializers,
  dtype: CpuDtype,
  key: string,
  rows: number,
  cols: number,
): LinearPlan {
  if (dtype === 'fp32')
    return { kind: 'f32', rows, cols, wT: init.take(`${key}.weight_T`, FLOAT, [cols, rows]) };
  if (dtype === 'q4') {
    const blocks = Math.ceil(cols / Q4_BLOCK);
    return {
      kind: 'q4',
      rows,
      cols,
      packed: init.take(`${key}.weight_q4`, UINT8, [rows, blocks, Q4_BLOCK / 2]),
      scales: init.take(`${key}.weight_scales`, FLOAT, [rows, blocks]),
    };
  }
  // q8: one MatMulInteger, or column slices `.slice0`, `.slice1`, … (graph/linear.ts Q8_MAX_COLUMNS).
  const suffixes: string[] = [];
  if (init.has(`${key}.weight_q8`)) suffixes.push('');
  else for (let i = 0; init.has(`${key}.weight_q8.slice${i}`); i++) suffixes.push(`.slice${i}`);
  if (suffixes.length === 0) init.take(`${key}.weight_q8`, UINT8, [cols, rows]); // refused by name
  const codes: StoredTensor[] = [];
  const scales: StoredTensor[] = [];
  let covered = 0;
  for (const suffix of suffixes) {
    const n = suffix === '' ? rows : (init.dims(`${key}.weight_q8${suffix}`)[1] ?? 0);
    codes.push(init.take(`${key}.weight_q8${suffix}`, UINT8, [cols, n]));
    scales.push(init.take(`${key}.weight_scale${suffix}`, FLOAT, [n]));
    const zero = init.take(`${key}.weight_zero_point${suffix}`, UINT8, [n]);
    if (zero.data.some((z) => z !== Q8_ZERO_POINT)) {
      throw new EdgetierError(
        'unsupported_architecture',
        `Initializer ${key}.weight_zero_point${suffix} is not ${Q8_ZERO_POINT} everywhere: the CPU engine runs the converter's symmetric q8 only.`,
      );
    }
    covered += n;
  }
  if (covered !== rows) {
    throw new EdgetierError(
      'shape_mismatch',
      `The column slices of ${key}.weight_q8 hold ${covered} output columns; config.json implies ${rows}.`,
    );
  }
  return { kind: 'q8', rows, cols, codes, scales };
}

function planFloat(init: Initializers, name: string, length: number): StoredTensor {
  return init.take(name, FLOAT, [length]);
}

interface ModelPlan {
  embedding:
    | { kind: 'f32'; table: StoredTensor; transposed: boolean }
    | { kind: 'q8'; codes: StoredTensor[]; scales: StoredTensor[] }
    | { kind: 'head' };
  layers: {
    inputNorm: StoredTensor;
    postNorm: StoredTensor;
    qNorm: StoredTensor | null;
    kNorm: StoredTensor | null;
    qkvBias: StoredTensor | null;
    qkv: LinearPlan;
    o: LinearPlan;
    gateUp: LinearPlan;
    down: LinearPlan;
  }[];
  finalNorm: StoredTensor;
  head: LinearPlan | 'embedding';
}

function planModel(spec: ModelSpec, dtype: CpuDtype, file: OnnxInitializers): ModelPlan {
  const init = new Initializers(file, dtype);
  const {
    hiddenSize: H,
    headDim: D,
    numHeads: NH,
    numKvHeads: KV,
    intermediateSize: FF,
    vocabSize: V,
  } = spec;
  let embedding: ModelPlan['embedding'];
  let head: ModelPlan['head'];
  if (dtype === 'fp32') {
    embedding = spec.tieWordEmbeddings
      ? { kind: 'f32', table: init.take('model.embed_tokens.weight_T', FLOAT, [H, V]), transposed: true }
      : { kind: 'f32', table: init.take('model.embed_tokens.weight', FLOAT, [V, H]), transposed: false };
    head = spec.tieWordEmbeddings ? 'embedding' : planLinear(init, dtype, 'lm_head', V, H);
  } else if (dtype === 'q8' && spec.tieWordEmbeddings) {
    // The gather reads the head's own (possibly sliced) tensors.
    head = planLinear(init, dtype, 'model.embed_tokens', V, H);
    embedding = { kind: 'head' };
  } else {
    embedding = {
      kind: 'q8',
      codes: [init.take('model.embed_tokens.weight_q8', UINT8, [H, V])],
      scales: [init.take('model.embed_tokens.weight_scale', FLOAT, [V])],
    };
    head = planLinear(init, dtype, spec.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head', V, H);
  }
  const layers: ModelPlan['layers'] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    layers.push({
      inputNorm: planFloat(init, `${p}.input_layernorm.weight`, H),
      postNorm: planFloat(init, `${p}.post_attention_layernorm.weight`, H),
      qNorm: spec.qkNorm ? planFloat(init, `${a}.q_norm.weight`, D) : null,
      kNorm: spec.qkNorm ? planFloat(init, `${a}.k_norm.weight`, D) : null,
      qkvBias: spec.attentionBias ? planFloat(init, `${a}.qkv_proj.bias`, (NH + 2 * KV) * D) : null,
      qkv: planLinear(init, dtype, `${a}.qkv_proj`, (NH + 2 * KV) * D, H),
      o: planLinear(init, dtype, `${a}.o_proj`, H, NH * D),
      gateUp: planLinear(init, dtype, `${p}.mlp.gate_up_proj`, 2 * FF, H),
      down: planLinear(init, dtype, `${p}.mlp.down_proj`, H, FF),
    });
  }
  const finalNorm = planFloat(init, 'model.norm.weight', H);
  init.checkAllTaken();
  return { embedding, layers, finalNorm, head };
}

/** float32 raw_data (maybe unaligned in the file) as a Float32Array copy. */
function floats(t: StoredTensor): Float32Array {
  const out = new Float32Array(t.data.length / 4);
  new Uint8Array(out.buffer).set(t.data);
  return out;
}

function putBytes(kx: WasmKernels, t: StoredTensor): number {
  return kx.putU8(t.data);
}

function putQ8(kx: WasmKernels, codes: StoredTensor[], scales: StoredTensor[], rows: number, cols: number) {
  const blocks = blocksOf(cols);
  const w = kx.alloc(rows * blocks * 32);
  q8Rows(
    codes.map((c) => c.data),
    rows,
    cols,
    kx.i8(w, rows * blocks * 32),
  );
  const s = kx.alloc(rows * 4);
  let at = s;
  for (const t of scales) {
    kx.u8(at, t.data.length).set(t.data);
    at += t.data.length;
  }
  return { blocks, w, scales: s };
}

function loadLinear(kx: WasmKernels, plan: LinearPlan): LinearWeights {
  const { rows, cols } = plan;
  if (plan.kind === 'f32') {
    const w = kx.alloc(rows * cols * 4);
    transposeInto(floats(plan.wT), rows, cols, kx.f32(w, rows * cols));
    return { kind: 'f32', rows, cols, w };
  }
  if (plan.kind === 'q4') {
    return {
      kind: 'q4',
      rows,
      cols,
      blocks: Math.ceil(cols / Q4_BLOCK),
      w: putBytes(kx, plan.packed),
      scales: putBytes(kx, plan.scales),
    };
  }
  return { kind: 'q8', rows, cols, ...putQ8(kx, plan.codes, plan.scales, rows, cols) };
}

/**
 * Validates every initializer of `file` against `spec` and `dtype`, then copies the weights into
 * `kx`'s memory. Throws EdgetierError (unsupported_architecture, unsupported_dtype, shape_mismatch)
 * naming the first tensor that does not fit, before anything is copied.
 */
export function loadModelWeights(
  kx: WasmKernels,
  spec: ModelSpec,
  dtype: CpuDtype,
  file: OnnxInitializers,
): ModelWeights {
  const plan = planModel(spec, dtype, file);
  const { hiddenSize: H, vocabSize: V } = spec;
  const put = (t: StoredTensor | null) => (t ? putBytes(kx, t) : null);
  const layers = plan.layers.map(
    (l): LayerWeights => ({
      inputNorm: putBytes(kx, l.inputNorm),
      postNorm: putBytes(kx, l.postNorm),
      qNorm: put(l.qNorm),
      kNorm: put(l.kNorm),
      qkvBias: put(l.qkvBias),
      qkv: loadLinear(kx, l.qkv),
      o: loadLinear(kx, l.o),
      gateUp: loadLinear(kx, l.gateUp),
      down: loadLinear(kx, l.down),
    }),
  );
  const finalNorm = putBytes(kx, plan.finalNorm);
  let embedding: EmbeddingWeights;
  let head: LinearWeights;
  if (plan.embedding.kind === 'f32') {
    const table = kx.alloc(V * H * 4);
    if (plan.embedding.transposed) transposeInto(floats(plan.embedding.table), V, H, kx.f32(table, V * H));
    else kx.u8(table, V * H * 4).set(plan.embedding.table.data);
    embedding = { kind: 'f32', table };
    head =
      plan.head === 'embedding' ? { kind: 'f32', rows: V, cols: H, w: table } : loadLinear(kx, plan.head);
  } else if (plan.embedding.kind === 'head') {
    head = loadLinear(kx, plan.head as LinearPlan);
    if (head.kind !== 'q8') throw new Error('a tied q8 head loads as q8');
    embedding = { kind: 'q8', rows: head.w, scales: head.scales };
  } else {
    const q8 = putQ8(kx, plan.embedding.codes, plan.embedding.scales, V, H);
    embedding = { kind: 'q8', rows: q8.w, scales: q8.scales };
    head = loadLinear(kx, plan.head as LinearPlan);
  }
  return { embedding, layers, finalNorm, head };
}
