/**
 * Checks a request's sampling options before anything runs, the same for every local runtime
 * (transformers.js on ORT, edgetier's CPU engine): a value no runtime can honour is refused by name
 * instead of quietly meaning something else (a NaN temperature read as greedy, maxNewTokens 0 as 1,
 * a fractional top-k crashing inside ORT).
 */
import type { SamplingOptions } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';

function refuse(name: string, rule: string, value: number): never {
  throw new EdgetierError('bad_request', `${name} must be ${rule}, got ${value}.`);
}

export function checkSampling(sampling: SamplingOptions): void {
  const { maxNewTokens, temperature, topK, topP, repetitionPenalty } = sampling;
  if (maxNewTokens !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens >= 1))
    refuse('maxNewTokens', 'a whole number of at least 1', maxNewTokens);
  if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0))
    refuse('temperature', 'a finite number of at least 0 (0 means greedy)', temperature);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 0))
    refuse('topK', 'a whole number of at least 0 (0 keeps every token)', topK);
  if (topP !== undefined && !(topP >= 0 && topP <= 1)) refuse('topP', 'a number from 0 to 1', topP);
  if (repetitionPenalty !== undefined && !(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0))
    refuse('repetitionPenalty', 'a finite number above 0 (1 means none)', repetitionPenalty);
}
