/**
 * Settings' line under the CPU engine setting (cpuEnginePickedLine): what runs the loaded model and
 * why. A refused planned q4 says which dtype ONNX Runtime loads instead, after the refusal's reason
 * and without the reason's own full stop in the middle of the sentence.
 */
import { describe, expect, it } from 'vitest';
import { cpuEnginePickedLine } from '../../src/app/components/settings-view/cpu-engine-picked.ts';
import type { LoadInfo } from '../../src/core/engine.ts';

const base = {
  device: 'wasm',
  runtimeChoice: { asked: 'auto', reason: 'auto: edgetier wrote it.' },
} as unknown as LoadInfo;

describe('cpuEnginePickedLine', () => {
  it('joins a refusal reason and the re-planned dtype without a stray full stop', () => {
    const info = {
      ...base,
      engine: 'onnxruntime',
      dtype: 'q8',
      fallback: {
        asked: 'edgetier',
        code: 'unsupported_architecture',
        reason: 'Its graph is not one edgetier wrote, so ONNX Runtime must run this one on ORT.',
        plannedDtype: 'q4',
      },
    } as unknown as LoadInfo;
    expect(cpuEnginePickedLine(info)).toBe(
      "The loaded model runs on ONNX Runtime: edgetier's CPU engine refused it (Its graph is not one edgetier wrote, so ONNX Runtime must run this one on ORT; q4 was planned for it, so ONNX Runtime loads q8)",
    );
  });

  it('keeps the reason whole where nothing was re-planned, and says nothing off WASM', () => {
    const info = {
      ...base,
      engine: 'onnxruntime',
      dtype: 'q8',
      fallback: { asked: 'edgetier', code: 'unsupported_architecture', reason: 'Not ours.' },
    } as unknown as LoadInfo;
    expect(cpuEnginePickedLine(info)).toBe(
      "The loaded model runs on ONNX Runtime: edgetier's CPU engine refused it (Not ours.)",
    );
    expect(cpuEnginePickedLine({ ...base, engine: 'edgetier-wasm' } as unknown as LoadInfo)).toBe(
      "The loaded model runs on edgetier's CPU engine: edgetier wrote it.",
    );
    expect(cpuEnginePickedLine({ ...info, device: 'webgpu' } as unknown as LoadInfo)).toBeNull();
    expect(cpuEnginePickedLine(null)).toBeNull();
  });
});
