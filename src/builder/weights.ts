/**
 * A read-only view of a checkpoint's tensors by Hugging Face name. The graph builder and the
 * reference forward pass read weights through it, one tensor at a time, so a model never has to
 * sit in memory whole.
 */
export interface WeightSource {
  /** Every tensor name, in file order. */
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  /** A fresh float32 copy of one tensor (converted from F16/BF16 where stored so). */
  read(name: string): Promise<Float32Array>;
}

/** Tensors held in memory: for tests and synthetic models. */
export class MemoryWeights implements WeightSource {
  constructor(private readonly tensors: Map<string, { shape: number[]; data: Float32Array }>) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  shape(name: string): number[] {
    return [...this.get(name).shape];
  }

  async read(name: string): Promise<Float32Array> {
    return this.get(name).data.slice();
  }

  private get(name: string) {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no tensor named ${name}`);
    return t;
  }
}
