import { describe, expect, it } from 'vitest';
import { cpuBuild, planBackends, WASM_SPEED_TIE, wasmThreads } from '../../src/core/backend-plan.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import { TWO_CORE_CAPABILITIES } from '../helpers/bench-fixtures.ts';

const GIB = 1024 ** 3;

/** The machine these tests were written on: 2 cores, isolated, JSPI, no GPU. */
const base: Capabilities = TWO_CORE_CAPABILITIES;

const swiftshader: Capabilities = {
  ...base,
  webgpu: {
    vendor: 'google',
    architecture: 'swiftshader',
    description: 'SwiftShader',
    isFallbackAdapter: true,
    shaderF16: false,
    maxBufferSizeBytes: GIB,
    maxStorageBufferBindingSizeBytes: GIB,
  },
};

const realGpu: Capabilities = {
  ...base,
  webgpu: {
    vendor: 'nvidia',
    architecture: 'ampere',
    description: '',
    isFallbackAdapter: false,
    shaderF16: true,
    maxBufferSizeBytes: 4 * GIB,
    maxStorageBufferBindingSizeBytes: 2 * GIB,
  },
};

const brief = (plan: ReturnType<typeof planBackends>) =>
  plan.choices.map((c) => `${c.device}/${c.dtype}/${c.build}/${c.threads}`);

describe('planBackends', () => {
  it('plans WASM q8 on the JSPI build with every core and never q4 when faster dtypes exist', () => {
    const plan = planBackends(base);
    expect(brief(plan)).toEqual(['wasm/q8/jspi/2', 'wasm/fp32/jspi/2']);
    expect(plan.skipped).toEqual([
      'WebGPU skipped: navigator.gpu is missing.',
      'WASM q4 skipped: 1.1 tok/s against 20 tok/s for q8.',
    ]);
    expect(plan.choices[0]!.reasons[0]).toMatch(/JSPI build/);
    expect(plan.choices[0]!.reasons[2]).toBe(
      "about 20 tok/s decode for this dtype on this build in edgetier's reference runs",
    );
  });

  it('prefers the smaller download when WASM speeds tie, the faster dtype otherwise', () => {
    // fp32 (19.2) is within 15% of q8 (20) on JSPI: q8 wins on bytes.
    expect(brief(planBackends(base, { dtypes: ['fp32', 'q8'] }))[0]).toBe('wasm/q8/jspi/2');
    expect(WASM_SPEED_TIE).toBe(0.15);
  });

  it('falls back to the plain CPU build without JSPI and to 1 thread without isolation', () => {
    const caps = { ...base, jspi: false, crossOriginIsolated: false };
    expect(cpuBuild(caps)).toBe('wasm');
    expect(wasmThreads(caps)).toBe(1);
    expect(brief(planBackends(caps))).toEqual(['wasm/q8/wasm/1', 'wasm/fp32/wasm/1']);
    expect(planBackends(caps).choices[0]!.reasons[1]).toBe(
      '1 thread: the page is not cross-origin isolated (no SharedArrayBuffer)',
    );
  });

  it('uses every core, at most 4', () => {
    expect([1, 2, 3, 4, 8, 16].map((n) => wasmThreads({ ...base, hardwareConcurrency: n }))).toEqual([
      1, 2, 3, 4, 4, 4,
    ]);
  });

  it('never lets a software WebGPU adapter beat WASM', () => {
    const plan = planBackends(swiftshader);
    expect(brief(plan)).toEqual(['wasm/q8/jspi/2', 'wasm/fp32/jspi/2']);
    expect(plan.skipped[0]).toBe(
      'WebGPU skipped: the adapter (google swiftshader) is a software fallback, about 100x slower than WASM on the CPU.',
    );
  });

  it('orders a real GPU q4f16 > fp16 > q4 > fp32, then WASM', () => {
    expect(brief(planBackends(realGpu))).toEqual([
      'webgpu/q4f16/webgpu/1',
      'webgpu/fp16/webgpu/1',
      'webgpu/q4/webgpu/1',
      'webgpu/fp32/webgpu/1',
      'wasm/q8/jspi/2',
      'wasm/fp32/jspi/2',
    ]);
  });

  it('drops half precision without shader-f16 and weights over the buffer limit', () => {
    const caps: Capabilities = { ...realGpu, webgpu: { ...realGpu.webgpu!, shaderF16: false } };
    const plan = planBackends(caps, {
      dtypes: ['fp32', 'q4', 'q4f16'],
      largestTensorBytesByDtype: { fp32: 3 * GIB, q4: GIB / 2 },
    });
    expect(brief(plan)).toEqual(['webgpu/q4/webgpu/1', 'wasm/fp32/jspi/2']);
    expect(plan.skipped).toEqual([
      'WebGPU q4f16 skipped: the adapter lacks shader-f16.',
      "WebGPU fp32 skipped: a 3.00 GiB weight exceeds the adapter's 2.00 GiB storage-buffer limit.",
      'WASM q4 skipped: 1.1 tok/s against 19.2 tok/s for fp32.',
    ]);
  });

  it('plans q4 on WASM only when it is all the model has, and says it is slow', () => {
    const plan = planBackends(base, { dtypes: ['q4'] });
    expect(brief(plan)).toEqual(['wasm/q4/jspi/2']);
    expect(plan.choices[0]!.reasons.at(-1)).toMatch(/^warning: q4 \(MatMulNBits\) runs at a few tokens\/s/);
  });

  describe("q4 for edgetier's CPU engine (AUTO_ENGINE_PREFERS_Q4)", () => {
    const converted = { dtypes: ['fp32', 'q8', 'q4'] as const, engineGraph: true };

    it('switched on: a folder edgetier wrote plans q4 first, with q8 for ORT on a refusal', () => {
      const plan = planBackends(base, { ...converted, dtypes: [...converted.dtypes] }, undefined, true);
      expect(brief(plan)).toEqual(['wasm/q4/jspi/2', 'wasm/q8/jspi/2', 'wasm/fp32/jspi/2']);
      expect(plan.choices[0]!.ortDtype).toBe('q8');
      expect(plan.choices[0]!.reasons[0]).toMatch(/^auto: edgetier's CPU engine will run this model/);
      expect(plan.choices[0]!.reasons.join(' ')).not.toMatch(/warning/);
      expect(plan.choices[1]!.ortDtype).toBeUndefined();
      // ORT's "q4 is slow" note is not about the engine's q4.
      expect(plan.skipped).toEqual(['WebGPU skipped: navigator.gpu is missing.']);
      // Threads only overridden: the planned q4 keeps its ORT fallback; a q4 you chose has none.
      const threads = planBackends(
        base,
        { ...converted, dtypes: [...converted.dtypes] },
        { threads: 1 },
        true,
      );
      expect(threads.choices[0]).toMatchObject({ dtype: 'q4', threads: 1, ortDtype: 'q8' });
      const pinned = planBackends(
        base,
        { ...converted, dtypes: [...converted.dtypes] },
        { dtype: 'q4' },
        true,
      );
      expect(pinned.choices[0]!.reasons).toEqual(['chosen by you']);
      expect(pinned.choices[0]!.ortDtype).toBeUndefined();
    });

    it('switched on: a Hub export, a browser without WASM SIMD or a q4 too big keeps q8 first', () => {
      const dtypes = [...converted.dtypes];
      for (const [caps, facts] of [
        [base, { dtypes }],
        [
          { ...base, wasmSimd: false },
          { dtypes, engineGraph: true },
        ],
        [
          { ...base, deviceMemoryGiB: 1 },
          { dtypes: ['q8', 'q4'], engineGraph: true, bytesByDtype: { q4: 0.6 * GIB, q8: 0.4 * GIB } },
        ],
      ] as const) {
        const plan = planBackends(caps, facts as never, undefined, true);
        expect(brief(plan)[0]).toBe('wasm/q8/jspi/2');
        expect(plan.choices.some((c) => c.ortDtype)).toBe(false);
      }
    });

    it('switched on: a folder with only q4 plans it for the engine with nothing else for ORT, and no warning', () => {
      const plan = planBackends(base, { dtypes: ['q4'], engineGraph: true }, undefined, true);
      expect(brief(plan)).toEqual(['wasm/q4/jspi/2']);
      expect(plan.choices[0]!.ortDtype).toBeUndefined();
      expect(plan.choices[0]!.reasons.join(' ')).not.toMatch(/warning/);
    });

    it("switched on: a folder with fp32 and q4 only (convert's default) falls back to fp32 on ORT, never q4", () => {
      // The engine refuses such a folder by its config (a Qwen3 sliding window, say) before any download:
      // ORT's own plan runs fp32 (about 19 tok/s), never q4 (about 1 tok/s).
      const plan = planBackends(base, { dtypes: ['fp32', 'q4'], engineGraph: true }, undefined, true);
      expect(brief(plan)).toEqual(['wasm/q4/jspi/2', 'wasm/fp32/jspi/2']);
      expect(plan.choices[0]!.ortDtype).toBe('fp32');
      // An fp32 ORT's plan skips (too big for this device) is no fallback either: q4 is kept.
      const small = planBackends(
        { ...base, deviceMemoryGiB: 1 },
        { dtypes: ['fp32', 'q4'], engineGraph: true, bytesByDtype: { fp32: 0.8 * GIB, q4: 0.1 * GIB } },
        undefined,
        true,
      );
      expect(brief(small)).toEqual(['wasm/q4/jspi/2']);
      expect(small.choices[0]!.ortDtype).toBeUndefined();
    });

    it('switched off: the same folder plans q8 first, as before', () => {
      const plan = planBackends(base, { ...converted, dtypes: [...converted.dtypes] }, undefined, false);
      expect(brief(plan)).toEqual(['wasm/q8/jspi/2', 'wasm/fp32/jspi/2']);
      expect(plan.choices.some((c) => c.ortDtype)).toBe(false);
    });
  });

  it('leaves out dtypes that do not fit memory or storage', () => {
    const plan = planBackends(
      { ...base, deviceMemoryGiB: 2 },
      { dtypes: ['fp32', 'q8'], bytesByDtype: { fp32: 1.5 * GIB, q8: 0.4 * GIB } },
    );
    expect(brief(plan)).toEqual(['wasm/q8/jspi/2']);
    expect(plan.skipped).toContain(
      'WASM fp32 skipped: needs 1.50 GiB but the device reports 2 GiB of memory.',
    );
  });

  it('puts an override first and keeps the automatic plan as fallback', () => {
    const plan = planBackends(base, {}, { dtype: 'q8', threads: 1 });
    expect(brief(plan)).toEqual(['wasm/q8/jspi/1', 'wasm/q8/jspi/2', 'wasm/fp32/jspi/2']);
    expect(plan.choices[0]!.reasons).toEqual(['chosen by you']);
    const gpu = planBackends(swiftshader, {}, { device: 'webgpu', dtype: 'fp32' });
    expect(brief(gpu)[0]).toBe('webgpu/fp32/webgpu/1');
  });
});
