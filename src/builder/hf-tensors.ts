/**
 * The tensors a Hugging Face checkpoint of a given ModelSpec holds, by name and shape (PyTorch
 * Linear layout: [out_features, in_features]). Checkpoint validation and synthetic weights both
 * derive from this one list.
 */
import type { ModelSpec } from '../core/model-spec.ts';

export type TensorRole = 'embedding' | 'linear' | 'bias' | 'norm' | 'head';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  role: TensorRole;
}

export function expectedTensors(spec: ModelSpec): ExpectedTensor[] {
  const h = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const out: ExpectedTensor[] = [
    { name: 'model.embed_tokens.weight', shape: [spec.vocabSize, h], role: 'embedding' },
  ];
  for (let i = 0; i < spec.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [h], role: 'norm' });
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [q, h], role: 'linear' });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [kv, h], role: 'linear' });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [kv, h], role: 'linear' });
    if (spec.attentionBias) {
      out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [q], role: 'bias' });
      out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kv], role: 'bias' });
      out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kv], role: 'bias' });
    }
    if (spec.qkNorm) {
      out.push({ name: `${p}.self_attn.q_norm.weight`, shape: [spec.headDim], role: 'norm' });
      out.push({ name: `${p}.self_attn.k_norm.weight`, shape: [spec.headDim], role: 'norm' });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [h, q], role: 'linear' });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [h], role: 'norm' });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [spec.intermediateSize, h], role: 'linear' });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [spec.intermediateSize, h], role: 'linear' });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [h, spec.intermediateSize], role: 'linear' });
  }
  out.push({ name: 'model.norm.weight', shape: [h], role: 'norm' });
  if (!spec.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [spec.vocabSize, h], role: 'head' });
  return out;
}

/** Number of parameters of a spec (the tied head counted once). */
export function parameterCount(spec: ModelSpec): number {
  return expectedTensors(spec).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
}
