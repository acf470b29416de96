/**
 * Where an engine runs a model: native onnxruntime on the CPU, onnxruntime-web's WebAssembly build,
 * or WebGPU. A leaf module, so the engine contract and the metrics can both name it without
 * importing each other.
 */
export type Device = 'cpu' | 'wasm' | 'webgpu';
