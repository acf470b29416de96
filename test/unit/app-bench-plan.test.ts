/**
 * What the app's Bench view measures (plannedBenchConfig: the plan's first choice, through
 * dtypeUnderRuntime): the dtype its chats run. Where the plan put q4 first for edgetier's CPU engine
 * under Automatic (AUTO_ENGINE_PREFERS_Q4, on here), a CPU engine setting other than Automatic chats
 * on ORT's choice (q8, the choice's ortDtype), and Bench must load that, not q4 (ONNX Runtime decodes
 * q4 at about 1 tok/s). The plan is the real planBackends, as the engine worker answers it.
 */
import { describe, expect, it } from 'vitest';
import { dtypeUnderRuntime, planBackends } from '../../src/core/backend-plan.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';

const caps: Capabilities = {
  webgpu: null,
  webgpuUnavailableReason: 'navigator.gpu is missing',
  crossOriginIsolated: true,
  jspi: true,
  wasmSimd: true,
  hardwareConcurrency: 2,
  deviceMemoryGiB: 8,
  storage: null,
};

describe('dtypeUnderRuntime (what Bench loads for the plan’s first choice)', () => {
  const first = (prefersQ4: boolean) =>
    planBackends(caps, { dtypes: ['q8', 'q4'], engineGraph: true }, undefined, prefersQ4).choices[0]!;

  it('Automatic loads the q4 the plan chose for the engine', () => {
    expect(dtypeUnderRuntime(first(true), 'auto')).toBe('q4');
    expect(dtypeUnderRuntime(first(true))).toBe('q4');
  });

  it('another CPU engine setting loads the dtype its chats run (q8), not the q4 planned for Automatic', () => {
    expect(dtypeUnderRuntime(first(true), 'onnxruntime')).toBe('q8');
    expect(dtypeUnderRuntime(first(true), 'edgetier')).toBe('q8');
  });

  it('a plan without a q4 for the engine (switch off, or a dtype you chose) is loaded as planned', () => {
    expect(dtypeUnderRuntime(first(false), 'onnxruntime')).toBe('q8');
    const pinned = planBackends(caps, { dtypes: ['q8', 'q4'], engineGraph: true }, { dtype: 'q4' }, true);
    expect(dtypeUnderRuntime(pinned.choices[0]!, 'onnxruntime')).toBe('q4');
  });
});
