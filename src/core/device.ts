/**
 * Where an engine runs a model: native onnxruntime on the CPU, onnxruntime-web's WebAssembly build,
 * or WebGPU. A leaf module, so the engine contract and the metrics can both name it without
 * importing each other.
 */
export type Device = 'cpu' | 'wasm' | 'webgpu';

/**
 * The runtime that runs a model's forward passes: ONNX Runtime natively or on the web, or edgetier's
 * own WebAssembly CPU engine (src/cpu-engine).
 */
export type EngineName = 'onnxruntime-node' | 'onnxruntime-web' | 'edgetier-wasm';
