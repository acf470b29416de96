/**
 * What the app's Bench view measures (plannedBenchConfig: the plan's first choice, through
 * dtypeUnderRuntime): the dtype its chats run. Where the plan put q4 first for edgetier's CPU engine
 * under Automatic (AUTO_ENGINE_PREFERS_Q4, on here), a CPU engine setting other than Automatic chats
 * on ORT's choice (q8, the choice's ortDtype), and Bench must load that, not q4 (ONNX Runtime decodes
 * q4 at about 1 tok/s). The plan is the real planBackends, as the engine worker answers it.
 */
import { describe, expect, it } from 'vitest';
import { benchLoadRequest, plannedBenchConfig } from '../../src/app/components/bench-view/bench-runner.ts';
import { dtypeUnderRuntime, planBackends } from '../../src/core/backend-plan.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import type { CatalogEntry } from '../../src/core/catalog.ts';
import type { Engine } from '../../src/core/engine.ts';
import { TWO_CORE_CAPABILITIES } from '../helpers/bench-fixtures.ts';

const caps: Capabilities = { ...TWO_CORE_CAPABILITIES, storage: null };

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

describe("the Bench view's load (plannedBenchConfig, benchLoadRequest): ONNX Runtime's dtype on a refusal", () => {
  const entry = { key: 'twin', source: { kind: 'url', url: '/models/twin' } } as unknown as CatalogEntry;
  /** An engine whose plan is the real planner's, as the worker answers it. */
  const planning = (prefersQ4: boolean) =>
    ({
      plan: async () => planBackends(caps, { dtypes: ['q8', 'q4'], engineGraph: true }, undefined, prefersQ4),
    }) as unknown as Engine;
  const fallback = { device: 'wasm', dtype: 'q8' } as const;

  for (const prefersQ4 of [true, false]) {
    it(`asks ORT for the plan's ortDtype where Automatic runs a planned q4 (switch ${prefersQ4 ? 'on' : 'off'})`, async () => {
      const config = await plannedBenchConfig(planning(prefersQ4), entry, fallback, undefined, 'auto');
      const request = benchLoadRequest(entry.source!, { ...config, runtime: 'auto' });
      // The chats' load asks the same (AppState.load: ortDtypeAfterRefusal): q8 on ORT after a refusal.
      expect(request).toMatchObject(prefersQ4 ? { dtype: 'q4', ortDtype: 'q8' } : { dtype: 'q8' });
      if (!prefersQ4) expect(request.ortDtype).toBeUndefined();
      expect(request).toMatchObject({ runtime: 'auto', fallbackToOrt: true, warmupBudgetMs: 0 });
    });
  }

  it('sends no ortDtype under another CPU engine setting or for a dtype you chose', async () => {
    const ort = await plannedBenchConfig(planning(true), entry, fallback, undefined, 'onnxruntime');
    expect(ort.dtype).toBe('q8');
    expect(benchLoadRequest(entry.source!, { ...ort, runtime: 'onnxruntime' }).ortDtype).toBeUndefined();
    const pinned = await plannedBenchConfig(
      {
        plan: async () =>
          planBackends(caps, { dtypes: ['q8', 'q4'], engineGraph: true }, { dtype: 'q4' }, true),
      } as unknown as Engine,
      entry,
      fallback,
      { dtype: 'q4' },
      'auto',
    );
    expect(benchLoadRequest(entry.source!, { ...pinned, runtime: 'auto' })).toMatchObject({ dtype: 'q4' });
    expect(benchLoadRequest(entry.source!, { ...pinned, runtime: 'auto' }).ortDtype).toBeUndefined();
  });
});
