/**
 * The few WebAssembly JS API declarations the CPU engine uses. TypeScript ships them only in the DOM
 * and web-worker libs, which the Node realm (tsconfig.node.json) must not load; Node has the API itself.
 * Referenced from the Node-only node-kernels.ts: the worker realm has the WebWorker lib's declarations.
 */
declare global {
  namespace WebAssembly {
    class Module {
      /** Synchronous compilation (small modules only: wasm-features.ts's checks). */
      constructor(bytes: ArrayBufferView | ArrayBuffer);
      private readonly brand: 'WebAssembly.Module';
    }
    class Memory {
      constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
      readonly buffer: ArrayBuffer;
      grow(delta: number): number;
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
    function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
    function instantiate(
      module: Module,
      imports?: Record<string, Record<string, unknown>>,
    ): Promise<Instance>;
    function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
  }
}

export {};
