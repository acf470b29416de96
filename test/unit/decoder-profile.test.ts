/**
 * `edgetier profile`: the trace parsing (pure, exact medians and classes), a real profile of a tiny
 * decoder in onnxruntime-web's WASM build and in onnxruntime-node, and the command's bad-input errors.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { opClassOf, profileDecoder, summarise } from '../../src/bench/decoder-profile.ts';
import { specToHfConfig } from '../../src/builder/hf-config.ts';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { profileCommand, profileTable } from '../../src/cli/commands/profile.ts';
import { memoryWeights, randomTensors, TINY_SPECS } from '../helpers/onnx-fixtures.ts';

const kernel = (op: string, dur: number, input: number[] = [1, 1, 8], output: number[] = [1, 1, 8]) => ({
  cat: 'Node',
  name: `/${op}_kernel_time`,
  dur,
  args: { op_name: op, input_type_shape: [{ float: input }], output_type_shape: [{ float: output }] },
});
const run = (dur: number) => ({ cat: 'Session', name: 'model_run', dur });

describe('trace summary', () => {
  it('labels MatMul-like ops by [in x out] or as attention, other ops by name', () => {
    expect(opClassOf(kernel('DynamicQuantizeMatMul', 1, [1, 1, 576], [1, 1, 49152]))).toBe(
      'DynamicQuantizeMatMul 576x49152',
    );
    expect(opClassOf(kernel('FusedMatMul', 1, [1, 3, 3, 64], [1, 3, 3, 30]))).toBe('FusedMatMul (attention)');
    expect(opClassOf(kernel('Add', 1))).toBe('Add');
  });

  it('skips the prompt and two warm-up steps and takes per-class medians over the rest', () => {
    const step = (matmulUs: number, addUs: number, wallUs: number) => [
      kernel('MatMul', matmulUs, [1, 1, 4], [1, 1, 6]),
      kernel('Add', addUs),
      kernel('Add', addUs),
      run(wallUs),
    ];
    const events = [
      ...step(9000, 9000, 50_000), // prompt
      ...step(5000, 5000, 20_000), // warm-up
      ...step(5000, 5000, 20_000), // warm-up
      ...step(3000, 500, 5000),
      ...step(2000, 1000, 4000),
      ...step(4000, 1500, 6000),
    ];
    const p = summarise(events, { runtime: 'wasm', threads: 2, promptTokens: 3, lastLogitsOnly: true });
    expect(p.prefillMs).toBe(50);
    expect(p.stepMs).toBe(5);
    expect(p.kernelMsPerStep).toBe(4); // the median of the step totals 4, 4, 7
    expect(p.classes.map((c) => [c.opClass, c.msPerStep, c.nodesPerStep])).toEqual([
      ['MatMul 4x6', 3, 1],
      ['Add', 2, 2],
    ]);
    expect(p.classes.map((c) => c.share)).toEqual([0.6, 0.4]);
    expect(profileTable([p], 5).split('\n')).toEqual([
      '| op class | wasm ms/step | wasm share |',
      '| --- | --- | --- |',
      '| MatMul 4x6 | 3.00 | 60.0% |',
      '| Add | 2.00 | 40.0% |',
      '| all kernels | 4.00 | 100% |',
      '| step wall time | 5.00 |  |',
      '| prompt (prefill) | 50.0 |  |',
    ]);
  });

  it('refuses a trace with too few runs', () => {
    expect(() =>
      summarise([run(1), run(1)], { runtime: 'native', threads: 1, promptTokens: 1, lastLogitsOnly: false }),
    ).toThrow('the trace holds 2 runs; profile at least 3 decode steps');
  });
});

describe('profiling a real decoder', () => {
  const spec = TINY_SPECS['llama tied, llama3 rope']!;

  it.each(['wasm', 'native'] as const)(
    '%s: per-class kernel times, the output head apart',
    async (runtime) => {
      const dir = mkdtempSync(join(tmpdir(), 'edgetier-profile-test-'));
      const { file } = await writeOnnxModel(spec, memoryWeights(randomTensors(spec, 3)), 'q8', dir);
      const p = await profileDecoder({ file, spec, runtime, threads: 1, promptTokens: 3, steps: 5 });
      expect(p.lastLogitsOnly).toBe(true);
      const names = p.classes.map((c) => c.opClass);
      expect(names).toContain(`DynamicQuantizeMatMul ${spec.hiddenSize}x${spec.vocabSize}`);
      const gateUp = `DynamicQuantizeMatMul ${spec.hiddenSize}x${2 * spec.intermediateSize}`;
      expect(p.classes.find((c) => c.opClass === gateUp)?.nodesPerStep).toBe(spec.numLayers);
      expect(p.classes.reduce((sum, c) => sum + c.share, 0)).toBeCloseTo(1, 6);
      expect(p.kernelMsPerStep).toBeGreaterThan(0);
    },
  );
});

describe('edgetier profile: bad input', () => {
  it('names the missing file and how to build it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetier-profile-empty-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify(specToHfConfig(TINY_SPECS['llama untied']!)));
    await expect(profileCommand.run([dir, '--dtype', 'q4'])).rejects.toMatchObject({
      code: 'model_not_found',
      message: `${dir} has no config.json or onnx/model_q4.onnx: build it with \`edgetier synth\` or \`edgetier convert\` (--dtype q4).`,
    });
  });

  it('refuses unknown runtimes and too few steps', async () => {
    await expect(profileCommand.run(['/x', '--runtime', 'gpu'])).rejects.toMatchObject({
      code: 'usage',
      message: 'Unknown --runtime "gpu"; use wasm, native, browser.',
    });
    await expect(profileCommand.run(['/x', '--steps', '2'])).rejects.toMatchObject({
      code: 'usage',
      message: '--steps must be at least 3 (two are warm-up).',
    });
  });
});
