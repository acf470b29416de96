import { describe, expect, it } from 'vitest';
import { wasmSpeed } from '../../src/core/backend-plan.ts';
import {
  assessFit,
  BUILTIN_MODELS,
  budgetForBackend,
  buildCatalog,
  type CatalogEntry,
  type DeviceBudget,
  defaultSelection,
  entriesFromServer,
  entriesFromTiers,
  estimateCostUsd,
  estimateDownloadBytes,
  expectedDecodeSpeed,
  formatBytes,
  formatCostUsd,
  formatParams,
  formatTokPerSec,
  kvCacheBytes,
  kvElementFor,
  parseMeasuredSpeeds,
  preferredDtype,
  preferredDtypeWithCache,
  SPEED_REFERENCE_PARAMS,
  spectrumLabels,
  tierDisplayName,
} from '../../src/core/catalog.ts';

const wasmOnly: DeviceBudget = { webgpu: false, shaderF16: false, deviceMemoryGiB: 8, maxBufferBytes: null };
const gpuF16: DeviceBudget = {
  webgpu: true,
  shaderF16: true,
  deviceMemoryGiB: 8,
  maxBufferBytes: 2 * 1024 ** 3,
};
const swiftShader: DeviceBudget = {
  webgpu: true,
  shaderF16: false,
  deviceMemoryGiB: null,
  maxBufferBytes: 1024 ** 3,
};

const byKey = (key: string): CatalogEntry => {
  const e = BUILTIN_MODELS.find((m) => m.key === key);
  if (!e) throw new Error(key);
  return e;
};
const smol135 = byKey('onnx-community/SmolLM2-135M-Instruct-ONNX');
const llama1b = byKey('onnx-community/Llama-3.2-1B-Instruct');
const r1 = byKey('onnx-community/DeepSeek-R1-Distill-Qwen-1.5B-ONNX');
const qwen17Entry = () => byKey('onnx-community/Qwen3-1.7B-ONNX');

describe('catalog', () => {
  it('holds the real Hub models the issue names, every field filled', () => {
    const keys = BUILTIN_MODELS.map((m) => m.key);
    for (const k of [
      'onnx-community/SmolLM2-135M-Instruct-ONNX',
      'onnx-community/SmolLM2-360M-Instruct-ONNX',
      'onnx-community/Qwen2.5-0.5B-Instruct',
      'onnx-community/Qwen3-0.6B-ONNX',
      'onnx-community/Llama-3.2-1B-Instruct',
    ]) {
      expect(keys).toContain(k);
    }
    for (const m of BUILTIN_MODELS) {
      expect(m.source).toEqual({ kind: 'hub', id: m.key });
      expect(m.params).toBeGreaterThan(1e8);
      expect(m.contextLength).toBeGreaterThanOrEqual(8192);
      expect(m.licence.length).toBeGreaterThan(2);
      expect(m.shape).toBeDefined();
      expect(m.synthetic).toBe(false);
    }
  });

  it('estimates download size from parameters unless exact bytes are known', () => {
    expect(estimateDownloadBytes(smol135, 'fp32')).toBe(538_000_000);
    expect(estimateDownloadBytes(smol135, 'q8')).toBe(141_225_000);
    const [twin] = entriesFromServer([{ name: 'tiny', synthetic: true, dtypes: { fp32: 1234, q8: 600 } }]);
    expect(estimateDownloadBytes(twin!, 'fp32')).toBe(1234);
    expect(twin!.note).toBe('Synthetic test model: random weights. For speed, not answers.');
  });

  it("strips bidi controls from a folder's mirrors, which would reverse the note's own words", () => {
    const [twin] = entriesFromServer([{ name: 'evil', synthetic: true, mirrors: 'Org/\u202Eledom' }]);
    expect(twin!.note).toBe(
      'Synthetic twin of Org/ledom: real shapes, random weights. For speed, not answers.',
    );
    expect(twin!.mirrors).toBe('Org/ledom');
  });

  it('computes the KV cache from the architecture (fp32 on WASM, fp16 on WebGPU, int8 in the CPU engine)', () => {
    // SmolLM2-135M: 2 (K and V) * 30 layers * 3 kv heads * 64 dims * 4096 tokens * 4 bytes
    expect(kvCacheBytes(smol135.shape!, 4096, 'float32')).toBe(2 * 30 * 3 * 64 * 4096 * 4);
    expect(kvCacheBytes(smol135.shape!, 4096, 'float16')).toBe(2 * 30 * 3 * 64 * 4096 * 2);
    // int8: 64 codes and a float32 scale per head vector, in whole chunks of 512 positions.
    expect(kvCacheBytes(smol135.shape!, 4096, 'int8')).toBe(2 * 30 * 3 * (64 + 4) * 4096);
    expect(kvCacheBytes(smol135.shape!, 4097, 'int8')).toBe(2 * 30 * 3 * (64 + 4) * (4096 + 512));
  });

  describe("the KV cache's element in the memory estimate (kvElementFor, assessFit)", () => {
    const serve = (family: string, attentionBias?: boolean) =>
      entriesFromServer([
        {
          name: family,
          family,
          synthetic: true,
          params: 134_515_008,
          contextLength: 8192,
          dtypes: { q8: 170e6, q4: 120e6 },
          shape: { ...smol135.shape!, ...(attentionBias === undefined ? {} : { attentionBias }) },
          edgetier: { synthetic: true },
        },
      ])[0]!;
    const simd = { ...wasmOnly, wasmSimd: true };

    it("is the CPU engine's int8 for a q4 folder it runs, float32 where ORT runs it or the file is not q4, the file's element on WebGPU", () => {
      const twin = serve('llama', false);
      expect(kvElementFor(twin, 'q4', 'wasm', 'auto', true)).toBe('int8');
      expect(kvElementFor(twin, 'q4', 'wasm', 'edgetier', true)).toBe('int8');
      expect(kvElementFor(twin, 'q8', 'wasm', 'auto', true)).toBe('float32');
      expect(kvElementFor(twin, 'q4', 'wasm', 'onnxruntime', true)).toBe('float32');
      expect(kvElementFor(twin, 'q4', 'wasm', 'auto', false)).toBe('float32');
      expect(kvElementFor(smol135, 'q4', 'wasm', 'auto', true)).toBe('float32'); // a Hub export: ORT's
      // ORT keeps the graph's past_key_values element: float32 for q4, float16 for q4f16 and fp16.
      expect(kvElementFor(twin, 'q4', 'webgpu', 'auto', true)).toBe('float32');
      expect(kvElementFor(twin, 'q4f16', 'webgpu', 'auto', true)).toBe('float16');
      expect(kvElementFor(twin, 'fp16', 'wasm', 'auto', true)).toBe('float16');
    });

    it('keeps float32 for attention biases (Qwen2), from the shape or, where the server did not say, the family', () => {
      expect(kvElementFor(serve('qwen2', true), 'q4', 'wasm', 'auto', true)).toBe('float32');
      expect(kvElementFor(serve('qwen2'), 'q4', 'wasm', 'auto', true)).toBe('float32');
      expect(kvElementFor(serve('llama'), 'q4', 'wasm', 'auto', true)).toBe('int8');
      expect(kvElementFor(serve('llama', true), 'q4', 'wasm', 'auto', true)).toBe('float32');
    });

    it('keeps float32 where the head size has no int8 kernels (not a multiple of 16, or over 512)', () => {
      for (const headDim of [24, 528]) {
        const odd = { ...serve('llama', false), shape: { ...smol135.shape!, headDim, attentionBias: false } };
        expect(kvElementFor(odd, 'q4', 'wasm', 'auto', true)).toBe('float32');
      }
    });

    it('assessFit counts the int8 cache where the CPU engine runs the q4 file, the float32 cache under ONNX Runtime', () => {
      const twin = serve('llama', false);
      const overhead = 200e6;
      expect(assessFit(twin, 'q4', simd).memoryBytes).toBe(120e6 + 2 * 30 * 3 * 68 * 4096 + overhead);
      expect(assessFit(twin, 'q4', simd, { runtime: 'onnxruntime' }).memoryBytes).toBe(
        120e6 + 2 * 30 * 3 * 64 * 4096 * 4 + overhead,
      );
      expect(assessFit(twin, 'q8', simd).memoryBytes).toBe(170e6 + 2 * 30 * 3 * 64 * 4096 * 4 + overhead);
    });
  });

  it('prefers q4f16 on a GPU with shader-f16 and q8 elsewhere', () => {
    expect(preferredDtype(smol135, gpuF16)).toBe('q4f16');
    expect(preferredDtype(smol135, wasmOnly)).toBe('q8');
    expect(preferredDtype(smol135, swiftShader)).toBe('q8');
  });

  it('plans q4 on WASM for a folder edgetier wrote when the switch is on, the runtime auto and WASM has SIMD', () => {
    const [converted] = entriesFromServer([
      { name: 'twin', synthetic: true, dtypes: { fp32: 40, q8: 10, q4: 6 }, edgetier: { synthetic: true } },
    ]);
    const [hub] = entriesFromServer([
      { name: 'export', dtypes: { fp32: 40, q8: 10, q4: 6 }, edgetier: null },
    ]);
    expect(converted!.engineGraph).toBe(true);
    expect(hub!.engineGraph).toBeUndefined();
    // An `edgetier` key that is not convert/synth's block ({synthetic: boolean, ...}) is no mark.
    for (const edgetier of [[], {}, { version: 2 }]) {
      const [lookalike] = entriesFromServer([
        { name: 'x', dtypes: { q8: 10, q4: 6 }, edgetier: edgetier as Record<string, unknown> },
      ]);
      expect(lookalike!.engineGraph).toBeUndefined();
    }
    const simd = { ...wasmOnly, wasmSimd: true };
    expect(preferredDtype(converted!, simd, 'auto', true)).toBe('q4');
    expect(preferredDtype(converted!, simd, 'auto', false)).toBe('q8');
    // Not the engine's, or not auto, or no SIMD known, or a GPU: today's choice.
    expect(preferredDtype(hub!, simd, 'auto', true)).toBe('q8');
    expect(preferredDtype(smol135, simd, 'auto', true)).toBe('q8');
    expect(preferredDtype(converted!, simd, 'onnxruntime', true)).toBe('q8');
    expect(preferredDtype(converted!, wasmOnly, 'auto', true)).toBe('q8');
    expect(preferredDtype(converted!, { ...swiftShader, wasmSimd: true }, 'auto', true)).toBe('q8');
  });

  // Both values of the switch: a visitor who cached one plan's file before a flip keeps using it.
  for (const prefersQ4 of [true, false]) {
    it(`uses a cached acceptable format over a planned one still to download (switch ${prefersQ4 ? 'on' : 'off'})`, () => {
      const [converted] = entriesFromServer([
        { name: 'twin', synthetic: true, dtypes: { fp32: 40, q8: 10, q4: 6 }, edgetier: { synthetic: true } },
      ]);
      const simd = { ...wasmOnly, wasmSimd: true };
      const planned = preferredDtype(converted!, simd, 'auto', prefersQ4);
      const other = planned === 'q4' ? 'q8' : 'q4';
      // Nothing cached, or the planned file cached (alone or with others): the plan.
      expect(preferredDtypeWithCache(converted!, simd, 'auto', undefined, prefersQ4)).toBe(planned);
      expect(preferredDtypeWithCache(converted!, simd, 'auto', [], prefersQ4)).toBe(planned);
      expect(preferredDtypeWithCache(converted!, simd, 'auto', [planned, other], prefersQ4)).toBe(planned);
      // Only the other plan's file whole in the cache: that one, where the switch's other value plans it.
      expect(preferredDtypeWithCache(converted!, simd, 'auto', ['q8'], prefersQ4)).toBe('q8');
      expect(preferredDtypeWithCache(converted!, simd, 'auto', ['q4'], prefersQ4)).toBe('q4');
      // A format neither plan picks here is no substitute: fp32 (4x the memory), q4f16 without f16,
      // and q4 under ONNX Runtime (a few tokens/s).
      expect(preferredDtypeWithCache(converted!, simd, 'auto', ['fp32', 'q4f16'], prefersQ4)).toBe(planned);
      expect(preferredDtypeWithCache(converted!, simd, 'onnxruntime', ['q4'], prefersQ4)).toBe('q8');
      expect(preferredDtypeWithCache(smol135, wasmOnly, 'auto', ['q4'], prefersQ4)).toBe('q8');
      expect(preferredDtypeWithCache(smol135, gpuF16, 'auto', ['q8'], prefersQ4)).toBe('q4f16');
      // The CPU engine setting switched from Automatic to edgetier's CPU engine with the q4 Automatic
      // planned whole in the cache: the same engine runs it (a refusal loads q8 on ORT, load's
      // ortDtype), so it is kept, not downloaded again as q8 (offline: download_failed).
      expect(preferredDtypeWithCache(converted!, simd, 'edgetier', ['q4'], prefersQ4)).toBe('q4');
      expect(preferredDtypeWithCache(converted!, simd, 'edgetier', ['q8', 'q4'], prefersQ4)).toBe('q8');
      // Not where the engine would not run it: no SIMD, a Hub export, a GPU.
      expect(preferredDtypeWithCache(converted!, wasmOnly, 'edgetier', ['q4'], prefersQ4)).toBe('q8');
      expect(preferredDtypeWithCache(smol135, simd, 'edgetier', ['q4'], prefersQ4)).toBe('q8');
      expect(preferredDtypeWithCache(smol135, gpuF16, 'edgetier', ['q4'], prefersQ4)).toBe('q4f16');
    });
  }

  it('plans the dtype for WASM where Settings forces WASM on a machine with WebGPU', () => {
    const [converted] = entriesFromServer([
      { name: 'twin', synthetic: true, dtypes: { q8: 10, q4: 6, q4f16: 5 }, edgetier: { synthetic: true } },
    ]);
    const gpuSimd = { ...gpuF16, wasmSimd: true };
    // Automatic backend: the GPU's format.
    expect(preferredDtype(converted!, budgetForBackend(gpuSimd, 'auto'), 'auto', true)).toBe('q4f16');
    expect(preferredDtype(converted!, budgetForBackend(gpuSimd, 'webgpu'), 'auto', true)).toBe('q4f16');
    // Forced WASM: the engine's q4 where Automatic plans it, else ORT's q8; never q4f16 on ORT-wasm.
    expect(preferredDtype(converted!, budgetForBackend(gpuSimd, 'wasm'), 'auto', true)).toBe('q4');
    expect(preferredDtype(converted!, budgetForBackend(gpuSimd, 'wasm'), 'onnxruntime', true)).toBe('q8');
    expect(preferredDtype(smol135, budgetForBackend(gpuF16, 'wasm'), 'auto', true)).toBe('q8');
    expect(budgetForBackend(wasmOnly, 'wasm')).toBe(wasmOnly);
  });

  it("gives no plan estimate for q4 on edgetier's CPU engine: the reference table is ORT's, 25x slower there", () => {
    expect(
      expectedDecodeSpeed(qwen17Entry(), 'q4', 'wasm', { build: 'jspi', threads: 2 }, undefined, true),
    ).toBeNull();
    expect(expectedDecodeSpeed(qwen17Entry(), 'q4', 'wasm', { build: 'jspi', threads: 2 })).not.toBeNull();
  });

  it('says why a model does not fit', () => {
    expect(assessFit(smol135, 'q8', wasmOnly)).toMatchObject({ verdict: 'fits', device: 'wasm' });
    expect(assessFit(smol135, 'q4f16', swiftShader)).toMatchObject({
      verdict: 'too-big',
      reason: 'q4f16 needs a GPU with shader-f16; pick q8 or q4 on this device.',
    });
    // 1.78B params in fp32 is ~7 GB: over the wasm32 heap.
    const big = assessFit(r1, 'fp32', wasmOnly);
    expect(big.verdict).toBe('too-big');
    expect(big.reason).toMatch(/over the 4 GiB WebAssembly limit/);
    // Llama 3.2 1B's q8 embedding table is held as 16-bit on the GPU: 128256 x 2048 x 2 bytes = 501 MiB.
    expect(assessFit(llama1b, 'q8', { ...swiftShader, maxBufferBytes: 256 * 1024 ** 2 }).reason).toBe(
      "Its embedding table (501 MiB) exceeds this GPU's largest buffer (256 MiB).",
    );
    expect(assessFit(llama1b, 'q8', { ...wasmOnly, deviceMemoryGiB: 2 }).verdict).toBe('tight');
    expect(assessFit(llama1b, 'q8', { ...wasmOnly, deviceMemoryGiB: 1 }).verdict).toBe('too-big');
  });

  it('merges local folders, Hub models and remote tiers into one spectrum', () => {
    const server = entriesFromServer([
      { name: 'tiny', synthetic: true, mirrors: 'SmolLM2-135M', params: 1e5, dtypes: { q8: 10, fp32: 40 } },
    ]);
    const tiers = entriesFromTiers([
      {
        id: 'fast',
        name: 'Fast',
        baseUrl: '',
        model: 'edgetier-native',
        priceInPerMTok: 0.1,
        priceOutPerMTok: 0.4,
      },
    ]);
    const catalog = buildCatalog(BUILTIN_MODELS, server, tiers);
    expect(catalog[0]).toMatchObject({
      key: 'local:tiny',
      synthetic: true,
      dtypes: ['q8', 'fp32'],
      source: { kind: 'url', url: '/models/tiny/' },
      note: 'Synthetic twin of SmolLM2-135M: real shapes, random weights. For speed, not answers.',
    });
    expect(catalog[1]!.key).toBe('onnx-community/SmolLM2-135M-Instruct-ONNX');
    expect(catalog.at(-1)).toMatchObject({ key: 'remote:fast', runs: 'remote' });
    expect(assessFit(catalog.at(-1)!, 'q8', wasmOnly).verdict).toBe('remote');
    expect(defaultSelection(catalog, wasmOnly)?.key).toBe('local:tiny');
    expect(defaultSelection(buildCatalog(BUILTIN_MODELS, [], tiers), wasmOnly)?.key).toBe(smol135.key);
  });

  it('prices remote tiers per million tokens and on-device at zero', () => {
    const [tier] = entriesFromTiers([
      {
        id: 'x',
        name: 'X',
        baseUrl: 'https://api.example/v1',
        model: 'm',
        priceInPerMTok: 2,
        priceOutPerMTok: 8,
      },
    ]);
    expect(estimateCostUsd(tier!, 1000, 500)).toBeCloseTo(0.006, 10);
    expect(estimateCostUsd(smol135, 1000, 500)).toBe(0);
  });

  it('names a tier by the model its server says it serves, a twin marked as one', () => {
    const tier = {
      id: 'server',
      name: 'This server',
      baseUrl: '',
      model: '',
      priceInPerMTok: 0,
      priceOutPerMTok: 0,
    };
    const [unasked] = entriesFromTiers([tier]);
    expect(unasked).toMatchObject({ name: 'This server', synthetic: false });
    const [twin] = entriesFromTiers([tier], {
      'remote:server': { id: 'qwen2.5-0.5b-twin', synthetic: true, mirrors: 'Qwen/Qwen2.5-0.5B-Instruct' },
    });
    expect(twin).toMatchObject({
      name: 'This server: qwen2.5-0.5b-twin',
      synthetic: true,
      mirrors: 'Qwen/Qwen2.5-0.5B-Instruct',
    });
    const [real] = entriesFromTiers([tier], { 'remote:server': { id: 'gpt-4o-mini', synthetic: false } });
    expect(real).toMatchObject({ name: 'This server: gpt-4o-mini', synthetic: false });
    // Asked without an answer: the name in Settings.
    expect(entriesFromTiers([tier], { 'remote:server': null })[0]!.name).toBe('This server');
    expect(tierDisplayName(tier, undefined)).toBe('This server');
  });

  it('formats costs readably: never a row of zeros for a cost that is not zero', () => {
    const cases: [number, string][] = [
      [0, 'free'],
      [0.00000099, '< $0.000001'],
      [0.000001, '$0.000001'],
      [0.0000015, '$0.0000015'],
      [0.000042, '$0.000042'],
      [0.0000996, '$0.0001'],
      [0.0001, '$0.0001'],
      [0.00012345, '$0.00012'],
      [0.0006, '$0.0006'],
      [0.006, '$0.006'],
      [0.0123, '$0.012'],
      [0.5, '$0.50'],
      [0.999, '$1.00'],
      [1, '$1.00'],
      [1234.5, '$1,234.50'],
      [-0.01, 'unknown'],
      [Number.NaN, 'unknown'],
      [Number.POSITIVE_INFINITY, 'unknown'],
    ];
    for (const [usd, text] of cases) expect(formatCostUsd(usd), String(usd)).toBe(text);
    // A short Compare answer on the default tier's prices: 40 tokens in, 20 out.
    expect(formatCostUsd((40 * 0.15 + 20 * 0.6) / 1e6)).toBe('$0.000018');
  });

  it('formats sizes for people', () => {
    expect(formatBytes(1536)).toBe('2 KiB');
    expect(formatParams(134.5e6)).toBe('135M');
    expect(formatParams(1.236e9)).toBe('1.2B');
    expect(formatParams(98_000)).toBe('0.1M');
    expect(formatBytes(141_225_000)).toBe('135 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});

describe('the spectrum and speed expectations', () => {
  it('gives every chip a distinct short label: suffixes dropped, full names where two would read alike', () => {
    const labels = spectrumLabels(buildCatalog(BUILTIN_MODELS, [], entriesFromTiers([])));
    expect([...labels.values()]).toEqual([
      'SmolLM2 135M',
      'SmolLM2 360M',
      'Qwen2.5 0.5B',
      'Qwen2.5 Coder 0.5B',
      'Qwen3 0.6B',
      'Gemma 3 1B',
      'Llama 3.2 1B',
      'Qwen3 1.7B',
      'DeepSeek R1 Distill Qwen 1.5B',
    ]);
    const alike = [
      { ...smol135, key: 'a', name: 'Model Instruct' },
      { ...smol135, key: 'b', name: 'Model' },
      { ...smol135, key: 'c', name: 'Other-IT' },
    ];
    expect([...spectrumLabels(alike).entries()]).toEqual([
      ['a', 'Model Instruct'],
      ['b', 'Model'],
      ['c', 'Other'],
    ]);
  });

  const jspi2 = { build: 'jspi' as const, threads: 2 };
  const qwen17 = byKey('onnx-community/Qwen3-1.7B-ONNX');

  it("scales the plan's reference WASM speed by parameter count, and says so", () => {
    const reference = wasmSpeed('jspi', 'q8', 2)!;
    const speed = expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2)!;
    expect(speed.decodeTokPerSec).toBeCloseTo((reference * SPEED_REFERENCE_PARAMS) / 1.72e9, 10);
    expect(formatTokPerSec(speed.decodeTokPerSec)).toBe('1.6 tok/s');
    expect(speed).toMatchObject({ source: 'plan', atLeast: false });
    expect(speed.basis).toBe(
      "Estimate: the backend plan's 20 tok/s for q8 on the jspi build with 2 threads, measured on the 135M twin on a 2-core machine, scaled by parameter count. Run Bench to measure it here.",
    );
    // A model smaller than the reference one: the reference speed is a floor, not scaled up.
    const twin = entriesFromServer([
      { name: 'tiny', synthetic: true, params: 98_000, dtypes: { fp32: 1 } },
    ])[0]!;
    expect(expectedDecodeSpeed(twin, 'fp32', 'wasm', jspi2)).toMatchObject({
      decodeTokPerSec: wasmSpeed('jspi', 'fp32', 2),
      atLeast: true,
    });
  });

  it("prefers Bench's own measurement in the same format, and says nothing it cannot back", () => {
    const measured = {
      decodeTokPerSec: 3.2,
      device: 'wasm' as const,
      dtype: 'q8' as const,
      threads: 2,
      tg: 64,
    };
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2, measured)).toEqual({
      decodeTokPerSec: 3.2,
      source: 'bench',
      atLeast: false,
      basis: 'Measured by Bench on this device (tg64, WASM q8, 2 threads).',
    });
    // Measured in another format: the plan's estimate for the chosen one.
    expect(expectedDecodeSpeed(qwen17, 'fp32', 'wasm', jspi2, measured)?.source).toBe('plan');
    // No reference run on a GPU, no size for a remote tier, no plan: nothing.
    expect(expectedDecodeSpeed(qwen17, 'q4f16', 'webgpu', jspi2)).toBeNull();
    const [remote] = entriesFromTiers([
      { id: 's', name: 'S', baseUrl: '', model: '', priceInPerMTok: 0, priceOutPerMTok: 0 },
    ]);
    expect(remote!.note).toBe('The model it serves by default at this server.');
    expect(expectedDecodeSpeed(remote!, 'q8', 'wasm', jspi2)).toBeNull();
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', undefined)).toBeNull();
    expect(formatTokPerSec(21.26)).toBe('21 tok/s');
  });
});

describe("Bench's measured speed and the CPU runtime the app runs (review of issue 12 item 8)", () => {
  it("backs a figure only with a measurement by the runtime the app would load: edgetier's CPU engine or ORT-web", () => {
    const jspi2 = { build: 'jspi' as const, threads: 2 };
    const qwen17 = byKey('onnx-community/Qwen3-1.7B-ONNX');
    const ort = { decodeTokPerSec: 3.2, device: 'wasm' as const, dtype: 'q8' as const, threads: 2, tg: 64 };
    const engine = { ...ort, decodeTokPerSec: 9.9, cpuEngine: true };
    // 'auto' runs the CPU engine on q8: a record from before 'auto' (ORT-web pinned) is not its speed.
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2, ort, true)?.source).toBe('plan');
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2, engine, true)).toEqual({
      decodeTokPerSec: 9.9,
      source: 'bench',
      atLeast: false,
      basis: "Measured by Bench on this device (tg64, WASM q8, 2 threads, edgetier's CPU engine).",
    });
    // Settings then pick ONNX Runtime: the CPU engine's figure is not ORT's.
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2, engine, false)?.source).toBe('plan');
    expect(expectedDecodeSpeed(qwen17, 'q8', 'wasm', jspi2, ort, false)?.decodeTokPerSec).toBe(3.2);
    // The record keeps which runtime measured it.
    expect(parseMeasuredSpeeds(JSON.stringify({ a: engine, b: ort }))).toEqual({ a: engine, b: ort });
  });
});

describe('hostile saved values (review of issue 16 items 7 and 10)', () => {
  const good = { decodeTokPerSec: 12.5, device: 'wasm', dtype: 'q8', threads: 2, tg: 32 };
  it('keeps a measured speed only where every field is a plausible figure', () => {
    const raw = JSON.stringify({
      ok: good,
      huge: { ...good, decodeTokPerSec: 1e300 },
      negativeThreads: { ...good, threads: -3 },
      fractionalThreads: { ...good, threads: 1.5 },
      hugeThreads: { ...good, threads: 1e30 },
      zeroTg: { ...good, tg: 0 },
      fractionalTg: { ...good, tg: 0.5 },
      stringSpeed: { ...good, decodeTokPerSec: '12' },
      badDtype: { ...good, dtype: '<img src=x onerror=alert(1)>' },
      nan: { ...good, decodeTokPerSec: null },
      zero: { ...good, decodeTokPerSec: 0 },
      negative: { ...good, decodeTokPerSec: -4 },
      notAnObject: 'fast',
    });
    expect(parseMeasuredSpeeds(raw)).toEqual({ ok: good });
  });

  it('reads a damaged, absent or non-object record as nothing measured, and no key reaches the prototype', () => {
    expect(parseMeasuredSpeeds(null)).toEqual({});
    expect(parseMeasuredSpeeds('{not json')).toEqual({});
    expect(parseMeasuredSpeeds('[1,2]')).toEqual({});
    expect(parseMeasuredSpeeds('"x"')).toEqual({});
    const parsed = parseMeasuredSpeeds(`{"__proto__": ${JSON.stringify(good)}}`);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect((parsed as Record<string, unknown>).decodeTokPerSec).toBeUndefined();
  });

  it('labels chips uniquely even where two models share a name, or differ only in letter case', () => {
    const twins = [
      { ...smol135, key: 'local:tiny', origin: 'server' as const, name: 'tiny' },
      { ...smol135, key: 'remote:a', origin: 'settings' as const, name: 'tiny' },
      { ...smol135, key: 'remote:b', origin: 'settings' as const, name: 'tiny ' },
      { ...smol135, key: 'x', name: 'Foo Instruct' },
      { ...smol135, key: 'y', name: 'foo' },
    ];
    const labels = [...spectrumLabels(twins).values()];
    expect(new Set(labels.map((l) => l.trim().toLowerCase())).size).toBe(twins.length);
    expect(labels.slice(3)).toEqual(['Foo Instruct', 'foo']);
  });
});
