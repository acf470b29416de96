/**
 * The architecture of a decoder-only model, normalised from a Hugging Face `config.json`. The graph
 * builder, the reference forward pass and the synth presets all speak this one shape.
 */
export const FAMILIES = ['llama', 'qwen2', 'qwen3'] as const;
export type Family = (typeof FAMILIES)[number];

/** Llama 3.x frequency scaling of RoPE (`rope_scaling.rope_type == "llama3"`). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Sliding-window attention (Qwen3's `use_sliding_window`): on a layer marked true, query position i
 * sees key positions j with i - size < j <= i (the last `size` tokens, itself included).
 */
export interface SlidingWindow {
  size: number;
  /** One entry per layer: true where the layer uses the window, false for full attention. */
  layers: boolean[];
}

export interface ModelSpec {
  family: Family;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads; fewer than `numHeads` means grouped-query attention. */
  numKvHeads: number;
  /** Per-head width; Qwen3 sets it explicitly, others use hiddenSize / numHeads. */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  maxPositionEmbeddings: number;
  /** The output head reuses the embedding matrix (no `lm_head.weight` tensor). */
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2). */
  attentionBias: boolean;
  /** Per-head RMSNorm on queries and keys before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Absent (or null) when every layer attends to the whole sequence. */
  slidingWindow?: SlidingWindow | null;
}
