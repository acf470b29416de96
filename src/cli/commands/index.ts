import type { CommandEntry } from '../command.ts';

/**
 * Every command, in the order `edgetier --help` lists them. A command's module is imported only when
 * it runs: some pull in onnxruntime and transformers.js, which would slow every other command's start.
 */
export const commands: CommandEntry[] = [
  {
    name: 'convert',
    summary: 'Convert a Hugging Face checkpoint into a browser-ready ONNX model folder',
    load: async () => (await import('./convert.ts')).convertCommand,
  },
  {
    name: 'synth',
    summary: 'Build a shape twin of a small model (real shapes, seeded random weights)',
    load: async () => (await import('./synth.ts')).synthCommand,
  },
  {
    name: 'generate',
    summary: 'Generate text from a model folder (greedy by default), with measured metrics',
    load: async () => (await import('./generate.ts')).generateCommand,
  },
  {
    name: 'serve',
    summary: 'Serve the app, the model folders and the full-scale tier (OpenAI-compatible /v1)',
    load: async () => (await import('./serve.ts')).serveCommand,
  },
  {
    name: 'start',
    summary: 'Build what is missing (app, default models) and serve: what `npm start` runs',
    load: async () => (await import('./start.ts')).startCommand,
  },
  {
    name: 'build',
    summary: 'Write the app as a static site for any web host (works offline after one visit)',
    load: async () => (await import('./build.ts')).buildCommand,
  },
  {
    name: 'bench',
    summary: 'Benchmark pp/tg tokens/s per device, dtype and threads (JSON, Markdown, CSV, SVG)',
    load: async () => (await import('./bench.ts')).benchCommand,
  },
  {
    name: 'profile',
    summary: 'Per-kernel time of a decode step: onnxruntime-web WASM vs native',
    load: async () => (await import('./profile.ts')).profileCommand,
  },
];
