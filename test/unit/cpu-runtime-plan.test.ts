/**
 * The CPU runtime plan (src/core/cpu-runtime-plan.ts): 'auto' picks edgetier's CPU engine on wasm
 * for the weight formats measured faster there (q8, q4), ONNX Runtime for the rest, for WebGPU and
 * for Node's cpu; an explicit runtime is kept; every choice says why.
 */
import { describe, expect, it } from 'vitest';
import {
  AUTO_CPU_ENGINE_DTYPES,
  AUTO_ENGINE_PREFERS_Q4,
  autoPlansEngineQ4,
  ortDtypeAfterRefusal,
  planCpuRuntime,
} from '../../src/core/cpu-runtime-plan.ts';
import { DTYPES } from '../../src/core/dtypes.ts';

describe('planCpuRuntime', () => {
  it.each([
    [
      'q8',
      "auto: edgetier's CPU engine decodes q8 weights 2.6-3.2x faster than ONNX Runtime does on WASM, in 30-40 % of its memory.",
    ],
    [
      'q4',
      "auto: edgetier's CPU engine decodes q4 weights 2.1-2.6x faster than ONNX Runtime decodes q8 on WASM (25x its q4), in 30-40 % of its memory.",
    ],
  ] as const)(
    "auto on wasm, %s: edgetier's CPU engine, falling back to ORT on a refusal",
    (dtype, reason) => {
      for (const runtime of ['auto', undefined] as const) {
        expect(planCpuRuntime({ runtime, device: 'wasm', dtype })).toEqual({
          runtime: 'edgetier',
          fallbackToOrt: true,
          reason,
        });
      }
    },
  );

  it('auto on wasm keeps ONNX Runtime for fp32 (ORT-web decodes it faster) and the formats the engine does not run', () => {
    expect(planCpuRuntime({ device: 'wasm', dtype: 'fp32' })).toEqual({
      runtime: 'onnxruntime',
      fallbackToOrt: false,
      reason: "auto: ONNX Runtime decodes fp32 weights 1.3-1.8x faster than edgetier's CPU engine.",
    });
    for (const dtype of ['fp16', 'q4f16'] as const) {
      const plan = planCpuRuntime({ device: 'wasm', dtype });
      expect(plan.runtime).toBe('onnxruntime');
      expect(plan.reason).toBe(`auto: edgetier's CPU engine does not run ${dtype} weights.`);
    }
    // Every dtype is planned one way or the other; only the measured ones go to the engine.
    expect(DTYPES.filter((d) => planCpuRuntime({ device: 'wasm', dtype: d }).runtime === 'edgetier')).toEqual(
      AUTO_CPU_ENGINE_DTYPES,
    );
  });

  it('auto on webgpu and on cpu (Node) is ONNX Runtime, whatever the weights', () => {
    for (const dtype of DTYPES) {
      expect(planCpuRuntime({ device: 'webgpu', dtype })).toMatchObject({
        runtime: 'onnxruntime',
        fallbackToOrt: false,
      });
      const cpu = planCpuRuntime({ runtime: 'auto', device: 'cpu', dtype });
      expect(cpu.runtime).toBe('onnxruntime');
      expect(cpu.reason).toMatch(/^auto: on device cpu onnxruntime-node/);
    }
  });

  it('an explicit runtime is kept; an explicit edgetier falls back only when the caller allows it', () => {
    expect(planCpuRuntime({ runtime: 'onnxruntime', device: 'wasm', dtype: 'q4' })).toEqual({
      runtime: 'onnxruntime',
      fallbackToOrt: false,
      reason: 'ONNX Runtime was asked for.',
    });
    expect(planCpuRuntime({ runtime: 'edgetier', device: 'wasm', dtype: 'fp32' })).toEqual({
      runtime: 'edgetier',
      fallbackToOrt: false,
      reason: "edgetier's CPU engine was asked for.",
    });
    expect(
      planCpuRuntime({ runtime: 'edgetier', device: 'wasm', dtype: 'q8', fallbackToOrt: true }).fallbackToOrt,
    ).toBe(true);
  });

  it('refuses a runtime it does not know, by name, instead of reading it as auto', () => {
    expect(() => planCpuRuntime({ runtime: 'tvm' as never, device: 'wasm', dtype: 'q8' })).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: 'Unknown CPU runtime "tvm"; use auto, onnxruntime, edgetier.',
      }),
    );
  });
});

describe('autoPlansEngineQ4 (the AUTO_ENGINE_PREFERS_Q4 switch)', () => {
  /** A folder edgetier wrote, with q8 and q4, in a browser with WASM SIMD, runtime auto, on wasm. */
  const engineRuns = {
    device: 'wasm' as const,
    dtypes: ['fp32', 'q8', 'q4'] as const,
    engineGraph: true,
    wasmSimd: true,
  };

  it('switched on: q4 for a folder edgetier wrote, on wasm, with SIMD, under auto only', () => {
    expect(autoPlansEngineQ4(engineRuns, true)).toBe(true);
    expect(autoPlansEngineQ4({ ...engineRuns, runtime: 'auto' }, true)).toBe(true);
    // Each missing condition keeps ORT's plan (q8): a Hub export, no SIMD, no q4 file, another
    // device, a runtime the user chose.
    expect(autoPlansEngineQ4({ ...engineRuns, engineGraph: false }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, wasmSimd: false }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, dtypes: ['fp32', 'q8'] }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, device: 'webgpu' }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, device: 'cpu' }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, runtime: 'onnxruntime' }, true)).toBe(false);
    expect(autoPlansEngineQ4({ ...engineRuns, runtime: 'edgetier' }, true)).toBe(false);
  });

  it('switched off: never q4, whatever the folder', () => {
    expect(autoPlansEngineQ4(engineRuns, false)).toBe(false);
    // The default is the constant.
    expect(autoPlansEngineQ4(engineRuns)).toBe(AUTO_ENGINE_PREFERS_Q4);
  });

  it('a refused q4 plan is re-planned to q8 for ONNX Runtime where the folder has it, else kept', () => {
    const planned = { dtype: 'q4' as const, dtypes: ['fp32', 'q8', 'q4'] as const, chosenByUser: false };
    expect(ortDtypeAfterRefusal(planned)).toBe('q8');
    // A q4 the user chose, a folder without q8, or another dtype: kept.
    expect(ortDtypeAfterRefusal({ ...planned, chosenByUser: true })).toBeUndefined();
    expect(ortDtypeAfterRefusal({ ...planned, dtypes: ['fp32', 'q4'] })).toBeUndefined();
    expect(ortDtypeAfterRefusal({ ...planned, dtype: 'q8' })).toBeUndefined();
    expect(ortDtypeAfterRefusal({ ...planned, dtype: 'fp32' })).toBeUndefined();
  });
});
