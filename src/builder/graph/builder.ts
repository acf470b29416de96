/**
 * Accumulates nodes and initializers for one ONNX graph, with unique value names and deduplicated
 * small constants. It knows nothing about language models; decoder.ts does.
 */
import type { AttributeDef, ElemType, GraphDef, NodeDef, TensorDef, ValueInfoDef } from '../onnx/model.ts';
import { ElemType as T } from '../onnx/model.ts';
import type { LazyBytes } from '../onnx/proto.ts';

export type Attrs = Record<string, number | string | readonly number[] | { float: number }>;

/** Bytes already in memory (small constants). */
export function eagerBytes(bytes: Uint8Array): LazyBytes {
  return { byteLength: bytes.length, produce: async () => bytes };
}

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export class GraphBuilder {
  private readonly nodes: NodeDef[] = [];
  private readonly initializers: TensorDef[] = [];
  private readonly constants = new Map<string, string>();
  private readonly used = new Set<string>();
  readonly inputs: ValueInfoDef[] = [];
  readonly outputs: ValueInfoDef[] = [];

  /** A fresh value name starting with `base`. */
  name(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  input(name: string, elemType: ElemType, shape: (number | string)[]): string {
    this.used.add(name);
    this.inputs.push({ name, elemType, shape });
    return name;
  }

  output(name: string, elemType: ElemType, shape: (number | string)[]): void {
    this.outputs.push({ name, elemType, shape });
  }

  /** Adds a node and returns its outputs. `outputs` may name them or give a count. */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Attrs = {},
    options: { outputs?: number | readonly string[]; domain?: string; name?: string } = {},
  ): string[] {
    const nodeName = this.name(options.name ?? `/${opType}`);
    const outs =
      typeof options.outputs === 'object'
        ? options.outputs.map((o) => {
            this.used.add(o);
            return o;
          })
        : Array.from({ length: options.outputs ?? 1 }, (_, i) => this.name(`${nodeName}_output_${i}`));
    const attributes: AttributeDef[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'number') return { name, kind: 'int', value: v };
      if (typeof v === 'string') return { name, kind: 'string', value: v };
      if ('float' in v) return { name, kind: 'float', value: v.float };
      return { name, kind: 'ints', value: v };
    });
    this.nodes.push({
      opType,
      domain: options.domain ?? '',
      name: nodeName,
      inputs,
      outputs: outs,
      attributes,
    });
    return outs;
  }

  /** Shorthand for a single-output node. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, domain?: string): string {
    return this.node(opType, inputs, attrs, domain ? { domain } : {})[0]!;
  }

  initializer(base: string, elemType: ElemType, dims: readonly number[], data: LazyBytes): string {
    const name = this.name(base);
    this.initializers.push({ name, elemType, dims, data });
    return name;
  }

  private constant(kind: string, elemType: ElemType, dims: readonly number[], bytes: Uint8Array): string {
    const key = `${kind}:${dims.join('x')}:${Buffer.from(bytes).toString('base64')}`;
    const existing = this.constants.get(key);
    if (existing) return existing;
    const name = this.initializer(`const_${kind}`, elemType, dims, eagerBytes(bytes));
    this.constants.set(key, name);
    return name;
  }

  i64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.constant('i64', T.INT64, dims, bytesOf(BigInt64Array.from(values.map((v) => BigInt(v)))));
  }

  f32(values: readonly number[] | Float32Array, dims: readonly number[] = [values.length]): string {
    return this.constant('f32', T.FLOAT, dims, bytesOf(Float32Array.from(values)));
  }

  f16bits(bits: Uint16Array, dims: readonly number[]): string {
    return this.constant('f16', T.FLOAT16, dims, bytesOf(bits));
  }

  graph(name: string): GraphDef {
    return {
      name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    };
  }
}
