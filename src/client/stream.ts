/**
 * Comlink cannot carry async generators, so streaming crosses the boundary as a proxied callback;
 * this turns that callback into an AsyncIterable for the page, with the final result alongside.
 */
import type { GenerateResult, StreamChunk } from '../core/engine.ts';

export interface GenerationStream extends AsyncIterable<StreamChunk> {
  /** Resolves when generation ends (also when interrupted: the partial answer). */
  result: Promise<GenerateResult>;
}

export function toStream(
  run: (onChunk: (chunk: StreamChunk) => void) => Promise<GenerateResult>,
): GenerationStream {
  const buffered: StreamChunk[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  const result = run((chunk) => {
    buffered.push(chunk);
    wake?.();
  }).finally(() => {
    finished = true;
    wake?.();
  });
  return {
    result,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = buffered.shift();
        if (next) {
          yield next;
          continue;
        }
        if (finished) {
          await result; // rethrows the generation's error, if any
          return;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = null;
      }
    },
  };
}
