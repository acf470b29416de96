/**
 * The decoder-only transformer (Llama / Qwen2 / Qwen3) as an ONNX graph with the I/O transformers.js
 * feeds a text-generation model: input_ids, attention_mask, position_ids, past_key_values.{i}.key /
 * .value, num_logits_to_keep (int64 scalar; 0 = logits for every position) in; logits, present.{i}.key /
 * .value out.
 *
 * Shape of the computation (b = batch, s = new tokens, T = past + s, K = kv heads, r = heads / K):
 * - Shared per run, not per layer: RoPE cos/sin [b, s, 1, D] from position_ids (the query copies
 *   carry the 1/sqrt(D) attention scale, so no per-layer scaling op), and one additive mask
 *   [b, 1, r*s, T] = causal (key j visible to new token i iff j <= past + i) AND attention_mask,
 *   as 0 / float32 min (finite, so fully padded rows give a uniform row instead of NaN); sliding
 *   layers (Qwen3 `use_sliding_window`) use a second mask that also hides keys j <= past + i - window.
 * - Per layer: RMSNorm in float32; one merged q|k|v MatMul then Split; per-head q/k RMSNorm (Qwen3);
 *   RoPE as x*cos + (x R)*sin with R the rotate_half matrix (one MatMul instead of Slice/Neg/Concat);
 *   K and V transposed to [b, K, s, D] and appended to the past; grouped-query attention without
 *   repeating K/V: queries are regrouped as [b, K, r*s, D] so each kv head serves its r query heads in
 *   one MatMul; softmax in float32; merged gate|up MatMul, SiLU, down.
 * - Float16 variants keep norms and softmax in float32 and cast at their edges.
 */
import { EdgetierError } from '../../core/errors.ts';
import type { ModelSpec } from '../../core/model-spec.ts';
import { f32ToF16 } from '../half.ts';
import { expectedTensors } from '../hf-tensors.ts';
import { ElemType, type ModelDef } from '../onnx/model.ts';
import { quantizeQ8, transpose } from '../quantize.ts';
import type { WeightSource } from '../weights.ts';
import { bytesOf, GraphBuilder } from './builder.ts';
import {
  floatBytes,
  type LinearLowering,
  type LinearWeight,
  lazy,
  Q8DynamicLinear,
  shared,
} from './linear.ts';
import { ropeInvFreq } from './rope.ts';

/** How one dtype stores weights and computes. */
export interface DtypePlan {
  /** Activations, KV cache and logits. */
  act: typeof ElemType.FLOAT | typeof ElemType.FLOAT16;
  linear: LinearLowering;
  /** The output head; the same lowering as `linear` unless a dtype says otherwise. */
  lmHead: LinearLowering;
  /** 'float': a table in `act`; 'q8': uint8 rows (the q8 weight layout) dequantised after the gather. */
  embedding: 'float' | 'q8';
}

export const DIM = {
  batch: 'batch_size',
  seq: 'sequence_length',
  past: 'past_sequence_length',
  total: 'total_sequence_length',
  /** Positions with logits: `num_logits_to_keep`, or sequence_length when it is 0. */
  logits: 'num_logits',
} as const;

const F32_MIN = -3.4028234663852886e38;

export function checkWeights(spec: ModelSpec, weights: WeightSource): void {
  if (spec.numHeads % spec.numKvHeads !== 0 || spec.headDim % 2 !== 0) {
    throw new EdgetierError(
      'unsupported_architecture',
      `numHeads (${spec.numHeads}) must be a multiple of numKvHeads (${spec.numKvHeads}) and headDim (${spec.headDim}) even.`,
    );
  }
  for (const { name, shape } of expectedTensors(spec)) {
    if (!weights.has(name)) {
      throw new EdgetierError(
        'weights_missing',
        `The checkpoint has no tensor ${name}, which a ${spec.family} model with this config needs.`,
      );
    }
    const got = weights.shape(name);
    if (got.length !== shape.length || got.some((x, i) => x !== shape[i])) {
      throw new EdgetierError(
        'shape_mismatch',
        `${name} has shape [${got.join(', ')}] but config.json implies [${shape.join(', ')}].`,
      );
    }
  }
}

/** Reads several [rows_k, cols] tensors and stacks them along rows. */
function stackedWeight(weights: WeightSource, key: string, names: string[], cols: number): LinearWeight {
  const rows = names.reduce((n, name) => n + weights.shape(name)[0]!, 0);
  return {
    key,
    rows,
    cols,
    sources: names,
    async read() {
      if (names.length === 1) return weights.read(names[0]!);
      const out = new Float32Array(rows * cols);
      let at = 0;
      for (const name of names) {
        const part = await weights.read(name);
        out.set(part, at);
        at += part.length;
      }
      return out;
    },
  };
}

export function buildDecoderModel(spec: ModelSpec, weights: WeightSource, plan: DtypePlan): ModelDef {
  checkWeights(spec, weights);
  const g = new GraphBuilder();
  const A = plan.act;
  const half = A === ElemType.FLOAT16;
  const {
    hiddenSize: H,
    headDim: D,
    numHeads: NH,
    numKvHeads: KV,
    intermediateSize: FF,
    vocabSize: V,
  } = spec;
  const rep = NH / KV;

  const inputIds = g.input('input_ids', ElemType.INT64, [DIM.batch, DIM.seq]);
  const attentionMask = g.input('attention_mask', ElemType.INT64, [DIM.batch, DIM.total]);
  const positionIds = g.input('position_ids', ElemType.INT64, [DIM.batch, DIM.seq]);
  const past: { key: string; value: string }[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    past.push({
      key: g.input(`past_key_values.${i}.key`, A, [DIM.batch, KV, DIM.past, D]),
      value: g.input(`past_key_values.${i}.value`, A, [DIM.batch, KV, DIM.past, D]),
    });
  }
  const numLogitsToKeep = g.input('num_logits_to_keep', ElemType.INT64, []);

  const floatTensor = (name: string, shape: number[], transform?: (x: Float32Array) => Float32Array) =>
    g.initializer(
      name,
      A,
      shape,
      lazy(shape.reduce((a, b) => a * b, 1) * (half ? 2 : 4), async () => {
        const x = await weights.read(name);
        return floatBytes(transform ? transform(x) : x, A, name);
      }),
    );
  const toAct = (x: string) => (half ? g.op('Cast', [x], { to: A }) : x);
  const constAct = (values: Float32Array, dims: number[]) =>
    half ? g.f16bits(f32ToF16(values), dims) : g.f32(values, dims);

  // --- embeddings (and the tied output head's weights, shared) ---
  const embedWeight: LinearWeight = {
    key: 'model.embed_tokens',
    rows: V,
    cols: H,
    read: () => weights.read('model.embed_tokens.weight'),
  };
  let hidden: string;
  let tiedHead: ((x: string) => string) | null = null;
  if (plan.embedding === 'q8') {
    const q8 = plan.lmHead instanceof Q8DynamicLinear && spec.tieWordEmbeddings ? plan.lmHead : null;
    let codes: string;
    let scales: string;
    if (q8) {
      // The gather needs the whole table: a Concat of the head's slices (constant-folded at load).
      const { slices } = q8.tensors(g, embedWeight);
      const joined = (names: string[], axis: number) =>
        names.length === 1 ? names[0]! : g.op('Concat', names, { axis });
      codes = joined(
        slices.map((s) => s.codes),
        1,
      );
      scales = joined(
        slices.map((s) => s.scales),
        0,
      );
      tiedHead = (x) => q8.emit(g, x, embedWeight);
    } else {
      const q = shared(async () => quantizeQ8(await embedWeight.read(), V, H), 2);
      codes = g.initializer(
        'model.embed_tokens.weight_q8',
        ElemType.UINT8,
        [H, V],
        lazy(V * H, async () => (await q()).codes),
      );
      scales = g.initializer(
        'model.embed_tokens.weight_scale',
        ElemType.FLOAT,
        [V],
        lazy(V * 4, async () => bytesOf((await q()).scales)),
      );
    }
    // codes are [H, V]: gather columns, then move H last ([H, b, s] -> [b, s, H]).
    const rows = g.op('Transpose', [g.op('Gather', [codes, inputIds], { axis: 1 })], { perm: [1, 2, 0] });
    const centered = g.op('Sub', [g.op('Cast', [rows], { to: ElemType.FLOAT }), g.f32([128], [])]);
    const rowScale = g.op('Unsqueeze', [g.op('Gather', [scales, inputIds], { axis: 0 }), g.i64([-1])]);
    hidden = toAct(g.op('Mul', [centered, rowScale]));
  } else if (spec.tieWordEmbeddings) {
    // One [H, V] table serves the gather (by column) and the output MatMul.
    const table = g.initializer(
      'model.embed_tokens.weight_T',
      A,
      [H, V],
      lazy(V * H * (half ? 2 : 4), async () =>
        floatBytes(transpose(await embedWeight.read(), V, H), A, 'model.embed_tokens.weight'),
      ),
    );
    hidden = g.op('Transpose', [g.op('Gather', [table, inputIds], { axis: 1 })], { perm: [1, 2, 0] });
    tiedHead = (x) => g.op('MatMul', [x, table]);
  } else {
    const table = floatTensor('model.embed_tokens.weight', [V, H]);
    hidden = g.op('Gather', [table, inputIds], { axis: 0 });
  }

  // --- RoPE tables, once per run ---
  const invFreq = g.f32(ropeInvFreq(spec), [D / 2]);
  const pos = g.op('Unsqueeze', [g.op('Cast', [positionIds], { to: ElemType.FLOAT }), g.i64([-1])]);
  const freqs = g.op('Mul', [pos, invFreq]);
  const angles = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.i64([2])]); // [b,s,1,D]
  const cos32 = g.op('Cos', [angles]);
  const sin32 = g.op('Sin', [angles]);
  const scale = g.f32([1 / Math.sqrt(D)], []);
  const cosK = toAct(cos32);
  const sinK = toAct(sin32);
  const cosQ = toAct(g.op('Mul', [cos32, scale]));
  const sinQ = toAct(g.op('Mul', [sin32, scale]));
  // rotate_half(x) = x @ R: out[j] = -x[j + D/2] for j < D/2, x[j - D/2] otherwise.
  const rot = new Float32Array(D * D);
  for (let j = 0; j < D / 2; j++) {
    rot[(j + D / 2) * D + j] = -1;
    rot[j * D + j + D / 2] = 1;
  }
  const rotate = constAct(rot, [D, D]);
  const rope = (x: string, c: string, s: string) =>
    g.op('Add', [g.op('Mul', [x, c]), g.op('Mul', [g.op('MatMul', [x, rotate]), s])]);

  // --- attention mask, once per run: [b, 1, rep*s, T] additive float32 ---
  const seqLen = g.op('Gather', [g.op('Shape', [inputIds]), g.i64([1], [])], { axis: 0 });
  const totalLen = g.op('Gather', [g.op('Shape', [attentionMask]), g.i64([1], [])], { axis: 0 });
  const pastLen = g.op('Sub', [totalLen, seqLen]);
  const zero = g.i64([0], []);
  const one = g.i64([1], []);
  const keyPos = g.op('Range', [zero, totalLen, one]); // [T]
  const queryPos = g.op('Unsqueeze', [
    g.op('Add', [g.op('Range', [zero, seqLen, one]), pastLen]),
    g.i64([1]),
  ]); // [s,1]
  const causal = g.op('LessOrEqual', [keyPos, queryPos]); // [s,T]
  const padding = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: ElemType.BOOL }), g.i64([1])]); // [b,1,T]
  const visible = g.op('And', [causal, padding]); // [b,s,T]
  const toBias = (mask: string) => {
    let bias = g.op('Where', [mask, g.f32([0], []), g.f32([F32_MIN], [])]);
    bias = g.op('Unsqueeze', [bias, g.i64([1])]); // [b,1,s,T]
    return rep > 1 ? g.op('Tile', [bias, g.i64([1, 1, rep, 1])]) : bias; // [b,1,rep*s,T]
  };
  const maskBias = toBias(visible);
  // Sliding layers (Qwen3): key j visible to query i only if j > i - window, as transformers masks it.
  const window = spec.slidingWindow;
  const slidingMaskBias = window
    ? toBias(
        g.op('And', [visible, g.op('Greater', [keyPos, g.op('Sub', [queryPos, g.i64([window.size], [])])])]),
      )
    : maskBias;

  const rmsNorm = (x: string, weightName: string, dims: number[]) => {
    const x32 = half ? g.op('Cast', [x], { to: ElemType.FLOAT }) : x;
    const variance = g.op('ReduceMean', [g.op('Pow', [x32, g.f32([2], [])])], { axes: [-1], keepdims: 1 });
    const normed = g.op('Div', [x32, g.op('Sqrt', [g.op('Add', [variance, g.f32([spec.rmsNormEps], [])])])]);
    return g.op('Mul', [toAct(normed), floatTensor(weightName, dims)]);
  };

  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    const normed = rmsNorm(hidden, `${p}.input_layernorm.weight`, [H]);
    const qkvNames = ['q', 'k', 'v'].map((x) => `${a}.${x}_proj.weight`);
    let qkv = plan.linear.emit(g, normed, stackedWeight(weights, `${a}.qkv_proj`, qkvNames, H));
    if (spec.attentionBias) {
      const biasNames = ['q', 'k', 'v'].map((x) => `${a}.${x}_proj.bias`);
      const n = (NH + 2 * KV) * D;
      const bias = g.initializer(
        `${a}.qkv_proj.bias`,
        A,
        [n],
        lazy(n * (half ? 2 : 4), async () => {
          const w = await stackedWeight(weights, '', biasNames, 1).read();
          return floatBytes(w, A, biasNames.join(' or '));
        }),
      );
      qkv = g.op('Add', [qkv, bias]);
    }
    const [q0, k0, v0] = g.node(
      'Split',
      [qkv, g.i64([NH * D, KV * D, KV * D])],
      { axis: -1 },
      { outputs: 3 },
    );
    let q = g.op('Reshape', [q0!, g.i64([0, 0, NH, D])]);
    let k = g.op('Reshape', [k0!, g.i64([0, 0, KV, D])]);
    const v = g.op('Reshape', [v0!, g.i64([0, 0, KV, D])]);
    if (spec.qkNorm) {
      q = rmsNorm(q, `${a}.q_norm.weight`, [D]);
      k = rmsNorm(k, `${a}.k_norm.weight`, [D]);
    }
    q = rope(q, cosQ, sinQ); // [b,s,NH,D], pre-scaled by 1/sqrt(D)
    k = rope(k, cosK, sinK);
    const presentKey = g.node(
      'Concat',
      [past[i]!.key, g.op('Transpose', [k], { perm: [0, 2, 1, 3] })],
      { axis: 2 },
      { outputs: [`present.${i}.key`] },
    )[0]!;
    const presentValue = g.node(
      'Concat',
      [past[i]!.value, g.op('Transpose', [v], { perm: [0, 2, 1, 3] })],
      { axis: 2 },
      { outputs: [`present.${i}.value`] },
    )[0]!;
    // Queries regrouped per kv head: [b,s,KV,rep,D] -> [b,KV,rep,s,D] -> [b,KV,rep*s,D].
    const qGrouped = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [q, g.i64([0, 0, KV, rep, D])])], { perm: [0, 2, 3, 1, 4] }),
      g.i64([0, KV, -1, D]),
    ]);
    let scores = g.op('MatMul', [qGrouped, g.op('Transpose', [presentKey], { perm: [0, 1, 3, 2] })]);
    if (half) scores = g.op('Cast', [scores], { to: ElemType.FLOAT });
    const layerMask = window?.layers[i] ? slidingMaskBias : maskBias;
    const probs = toAct(g.op('Softmax', [g.op('Add', [scores, layerMask])], { axis: -1 }));
    const context = g.op('MatMul', [probs, presentValue]); // [b,KV,rep*s,D]
    const merged = g.op('Reshape', [
      g.op('Transpose', [g.op('Reshape', [context, g.i64([0, KV, rep, -1, D])])], { perm: [0, 3, 1, 2, 4] }),
      g.i64([0, 0, NH * D]),
    ]);
    const attnOut = plan.linear.emit(
      g,
      merged,
      stackedWeight(weights, `${a}.o_proj`, [`${a}.o_proj.weight`], NH * D),
    );
    hidden = g.op('Add', [hidden, attnOut]);

    const normed2 = rmsNorm(hidden, `${p}.post_attention_layernorm.weight`, [H]);
    const gateUp = plan.linear.emit(
      g,
      normed2,
      stackedWeight(
        weights,
        `${p}.mlp.gate_up_proj`,
        [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`],
        H,
      ),
    );
    const [gate, up] = g.node('Split', [gateUp, g.i64([FF, FF])], { axis: -1 }, { outputs: 2 });
    const act = g.op('Mul', [g.op('Mul', [gate!, g.op('Sigmoid', [gate!])]), up!]);
    const down = plan.linear.emit(
      g,
      act,
      stackedWeight(weights, `${p}.mlp.down_proj`, [`${p}.mlp.down_proj.weight`], FF),
    );
    hidden = g.op('Add', [hidden, down]);
  }

  // Only the last `num_logits_to_keep` positions reach the output head (0 keeps all, as in
  // transformers): generation reads the last position only, and on a prompt the head is about a fifth
  // of the prefill's work for a small model (one [H, V] product per prompt token).
  const keepAll = g.op('Equal', [numLogitsToKeep, g.i64([0], [])]);
  const keep = g.op('Where', [keepAll, seqLen, numLogitsToKeep]);
  const lastPositions = g.op('Slice', [
    hidden,
    g.op('Unsqueeze', [g.op('Neg', [keep]), g.i64([0])]),
    g.i64([Number.MAX_SAFE_INTEGER]),
    g.i64([1]),
  ]);
  const finalNorm = rmsNorm(lastPositions, 'model.norm.weight', [H]);
  const logitsValue = tiedHead
    ? tiedHead(finalNorm)
    : plan.lmHead.emit(
        g,
        finalNorm,
        spec.tieWordEmbeddings ? embedWeight : stackedWeight(weights, 'lm_head', ['lm_head.weight'], H),
      );
  g.node('Identity', [logitsValue], {}, { outputs: ['logits'] });
  g.output('logits', A, [DIM.batch, DIM.logits, V]);
  for (let i = 0; i < spec.numLayers; i++) {
    g.output(`present.${i}.key`, A, [DIM.batch, KV, DIM.total, D]);
    g.output(`present.${i}.value`, A, [DIM.batch, KV, DIM.total, D]);
  }

  return {
    irVersion: 8,
    producerName: 'edgetier',
    producerVersion: '0.1.0',
    opsets: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: g.graph(`${spec.family}_decoder`),
    metadata: {},
  };
}
