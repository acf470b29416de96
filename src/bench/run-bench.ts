/**
 * `edgetier bench`'s engine room: runs the matrix models × devices × dtypes × threads (plus the
 * baselines) through the shared method (src/core/bench/method.ts) and assembles the report. A
 * configuration that fails becomes a row with its error; the others still run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { type BackendChoice, cpuBuild, type OrtBuild, wasmThreads } from '../core/backend-plan.ts';
import { depthFitProblem, depthReportNote } from '../core/bench/depth.ts';
import {
  type BenchParams,
  type BenchStep,
  type BenchTarget,
  type ConfigMeasurement,
  measureInRounds,
  roundFailureMessage,
  rowBudgetNote,
} from '../core/bench/method.ts';
import {
  BENCH_SCHEMA,
  type BenchModel,
  type BenchReport,
  type BenchRow,
  benchRow,
  computeRatios,
  type RowKey,
  runtimeOutcome,
} from '../core/bench/schema.ts';
import type { Capabilities } from '../core/capabilities.ts';
import { planCpuRuntime } from '../core/cpu-runtime-plan.ts';
import type { Dtype } from '../core/dtypes.ts';
import type { Device, LoadInfo, ModelSource } from '../core/engine.ts';
import type { LoadedInfo } from '../core/engine-protocol.ts';
import { EdgetierError } from '../core/errors.ts';
import { availableDtypes, type NodeRuntime } from '../native/node-engine.ts';
import { DEFAULT_CONTEXT_TOKENS } from '../runtime/model-session.ts';
import { BrowserBench } from './browser-targets.ts';
import { nodeEnvironment } from './environment.ts';
import { nativeTarget } from './native-target.ts';

export interface BenchOptions {
  /** Model folders on disk, or Hub ids (owner/name). */
  models: string[];
  devices: Device[];
  /** null: every dtype each folder holds. */
  dtypes: Dtype[] | null;
  /** 0 means the engine's own choice. */
  threads: number[];
  /**
   * What runs the `cpu` and `wasm` rows: ONNX Runtime (onnxruntime-node `native` rows, onnxruntime-web
   * in the engine worker) and/or edgetier's own CPU engine (`edgetier` rows with ort_build
   * 'edgetier-wasm': in this process for cpu, at each of `threads`, 0 meaning 1; in the engine worker
   * for wasm, at each of `threads` too, 0 meaning the plan's count as for ORT). Default: onnxruntime only.
   */
  cpuEngines?: NodeRuntime[];
  params: BenchParams;
  /** Wall-time budget of one row's counted repetitions, in seconds; 0: always run params.reps. */
  rowBudgetS: number;
  /**
   * Adds edgetier's default WASM row (the planner's dtype and threads on runtime 'auto', what the app
   * runs), ORT-web on ORT's own plan's dtype at the same threads (the previous default) where 'auto'
   * picks edgetier's CPU engine, stock transformers.js twice (its defaults, and at the default row's
   * thread count) and native onnxruntime-node rows. Without it no row is the default: the matrix rows
   * are pinned.
   */
  baseline: boolean;
  /** Recorded in the report as is. */
  command: string;
}

export type BenchEvent =
  | { kind: 'config'; index: number; total: number; label: string }
  | { kind: 'step'; index: number; total: number; label: string; step: BenchStep }
  | { kind: 'row'; index: number; total: number; label: string; row: BenchRow };

interface ResolvedModel {
  arg: string;
  /** Folder on disk, or null for a Hub id. */
  dir: string | null;
  id: string;
  source: ModelSource;
  dtypes: Dtype[];
  facts: BenchModel;
  /** max_position_embeddings (the engines' context window), else the engines' default. */
  contextTokens: number;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

async function resolveModel(arg: string, asked: Dtype[] | null): Promise<ResolvedModel> {
  const dir = resolve(arg);
  let config: Record<string, unknown>;
  let source: ModelSource;
  let have: Dtype[];
  if (existsSync(dir)) {
    if (!existsSync(join(dir, 'config.json'))) {
      throw new EdgetierError(
        'model_not_found',
        `${dir} is not a model folder (no config.json). Build one with \`edgetier synth\` or \`edgetier convert\`.`,
      );
    }
    config = readJson(join(dir, 'config.json'));
    source = { kind: 'path', path: dir };
    have = availableDtypes(dir);
  } else if (/^[\w.-]+\/[\w.-]+$/.test(arg)) {
    const url = `https://huggingface.co/${arg}/resolve/main/config.json`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      config = (await response.json()) as Record<string, unknown>;
    } catch (error) {
      throw new EdgetierError(
        'download_failed',
        `Could not read ${url} (${(error as Error).message}). Download the model folder and pass its path.`,
      );
    }
    source = { kind: 'hub', id: arg };
    have = asked ?? ['q8'];
  } else {
    throw new EdgetierError(
      'model_not_found',
      `${dir} does not exist, and "${arg}" is not a Hub id (owner/name).`,
    );
  }
  const edgetier = (config.edgetier ?? {}) as { synthetic?: unknown; mirrors?: unknown };
  const vocab = Number(config.vocab_size);
  const positions = Number(config.max_position_embeddings);
  const id = source.kind === 'path' ? basename(dir) : arg;
  return {
    arg,
    dir: source.kind === 'path' ? dir : null,
    id,
    source,
    dtypes: asked ?? have,
    contextTokens: Number.isInteger(positions) && positions > 0 ? positions : DEFAULT_CONTEXT_TOKENS,
    facts: {
      id,
      synthetic: edgetier.synthetic === true,
      mirrors: typeof edgetier.mirrors === 'string' ? edgetier.mirrors : null,
      vocab_size: Number.isInteger(vocab) && vocab > 0 ? vocab : 32000,
    },
  };
}

interface Planned {
  key: RowKey;
  target: () => Promise<BenchTarget>;
  /** The threads the row ran with, where only the runtime knows (the stock rows). */
  threadsUsed?: () => number;
  /**
   * The row's first load (the default row's and the pinned CPU engine rows'): the runtime 'auto' ran,
   * a fallback to ORT if there was one, the CPU engine's kernels.
   */
  loaded?: () => Parameters<typeof runtimeOutcome>[0] | null;
}

/** A native row's configuration. */
export interface NativeConfig {
  dtype: Dtype;
  threads: number;
}

/**
 * The native rows `--baseline` adds to a model's plan: without cpu rows every dtype; in any case the
 * default row's dtype (its same-file denominator, even when --dtype leaves it out); all at the
 * default row's threads where there is one (else the largest count asked), so that the same-dtype
 * ratio compares one file at one thread count. Rows already planned are not repeated.
 */
export function baselineNativeRows(
  devices: readonly Device[],
  dtypes: readonly Dtype[],
  threads: readonly number[],
  defaultChoice: NativeConfig | null,
  planned: readonly NativeConfig[],
): NativeConfig[] {
  const at = defaultChoice?.threads ?? Math.max(...threads);
  const wanted: NativeConfig[] = [
    ...(defaultChoice ? [{ dtype: defaultChoice.dtype, threads: at }] : []),
    ...(devices.includes('cpu') ? [] : dtypes.map((dtype) => ({ dtype, threads: at }))),
  ];
  const out: NativeConfig[] = [];
  for (const c of wanted)
    if (![...planned, ...out].some((p) => p.dtype === c.dtype && p.threads === c.threads)) out.push(c);
  return out;
}

/** The default row and its previous default, as `--baseline` plans them from the backend planner's choice. */
export interface DefaultRowsPlan {
  /**
   * The default row's load, as the app asks for it: runtime 'auto', and where the plan chose q4 for
   * edgetier's CPU engine, the dtype ONNX Runtime loads should the engine refuse the model (ortDtype).
   */
  load: { device: 'wasm'; dtype: Dtype; threads: number; build: OrtBuild; runtime: 'auto'; ortDtype?: Dtype };
  /** Its build column before it runs: edgetier-wasm where 'auto' plans the CPU engine, else ORT's build. */
  ortBuild: string;
  /**
   * ORT-web pinned at the default row's threads on the dtype ONNX Runtime's own plan picks (ortDtype,
   * else the default row's): what the app ran by default before 'auto' (q8, not ORT's q4 beside a q4
   * default). Null where 'auto' runs ORT itself: there is nothing to compare.
   */
  previousDefault: NativeConfig | null;
}

export function planDefaultRows(choice: BackendChoice): DefaultRowsPlan {
  const expected = planCpuRuntime({ device: 'wasm', dtype: choice.dtype });
  const engine = expected.runtime === 'edgetier';
  return {
    load: {
      device: 'wasm',
      dtype: choice.dtype,
      threads: choice.threads,
      build: choice.build,
      runtime: 'auto',
      ...(choice.ortDtype ? { ortDtype: choice.ortDtype } : {}),
    },
    ortBuild: engine ? 'edgetier-wasm' : choice.build,
    previousDefault: engine ? { dtype: choice.ortDtype ?? choice.dtype, threads: choice.threads } : null,
  };
}

/**
 * Why a row kind cannot run at a depth > 0, or null. The stock baseline stands for
 * pipeline('text-generation'), which keeps no KV cache between calls: holding a context there would
 * be another setup than the one it measures.
 */
export function depthRefusal(key: RowKey): string | null {
  if (key.engine === 'transformers.js')
    return (
      'The stock transformers.js baseline runs at depth 0 only: it stands for ' +
      "pipeline('text-generation'), which keeps no KV cache between calls, so no context can be held " +
      'before its tests without changing the setup it measures.'
    );
  return null;
}

function errorOf(error: unknown): { code: string; message: string } {
  if (error instanceof EdgetierError) return { code: error.code, message: error.message };
  return { code: 'internal', message: error instanceof Error ? error.message : String(error) };
}

export async function runBench(
  options: BenchOptions,
  onEvent?: (event: BenchEvent) => void,
): Promise<BenchReport> {
  const environment = nodeEnvironment();
  const models = await Promise.all(options.models.map((m) => resolveModel(m, options.dtypes)));
  // Rows, ratios and the summary tell models apart by id (a folder's name): two of one name would
  // share one set of ratios, each row's denominator possibly the other model's.
  for (const [i, model] of models.entries()) {
    const twin = models.slice(0, i).find((m) => m.id === model.id);
    if (!twin) continue;
    const where = (m: ResolvedModel) => m.dir ?? m.arg;
    throw new EdgetierError(
      'usage',
      where(twin) === where(model)
        ? `${where(model)} is given twice.`
        : `Two models are named "${model.id}" (${where(twin)} and ${where(model)}): the report tells models apart by name; give each folder its own name.`,
    );
  }
  // A depth that does not fit a model's context is refused before anything runs (the engine would
  // refuse every such row, or generate fewer tokens than tg asks).
  const depths = options.params.depth ?? [0];
  for (const model of models)
    for (const depth of depths) {
      const problem = depthFitProblem(
        depth,
        options.params.pp,
        options.params.tg,
        model.contextTokens,
        model.id,
      );
      if (problem) throw new EdgetierError('usage', problem);
    }
  const needsBrowser = options.baseline || options.devices.some((d) => d !== 'cpu');
  let browser: BrowserBench | null = null;
  let browserError: { code: string; message: string } | null = null;
  const notes: string[] = [];
  let caps: Capabilities | null = null;
  if (needsBrowser) {
    try {
      browser = await BrowserBench.start({ webgpu: options.devices.includes('webgpu') });
      Object.assign(environment, await browser.environment());
      caps = await browser.capabilities();
    } catch (error) {
      browserError = errorOf(error);
      await browser?.close();
      browser = null;
    }
  }
  const plannedRows: Planned[] = [];
  const rows: BenchRow[] = [];
  try {
    for (const model of models) {
      const urlOf = () => {
        if (!browser) throw new EdgetierError('internal', browserError?.message ?? 'Chromium did not start.');
        if (model.dir) return model.dir;
        throw new EdgetierError(
          'bad_request',
          'Browser rows need a model folder on disk; download the model first.',
        );
      };
      const defaultChoice =
        browser && model.dir ? await browser.defaultWasmChoice(model.dir).catch(() => null) : null;
      const native = (dtype: Dtype, threads: number) =>
        plannedRows.push({
          key: {
            model: model.id,
            engine: 'native',
            device: 'cpu',
            dtype,
            threads,
            ort_build: 'onnxruntime-node',
          },
          target: async () => nativeTarget(model.source, { dtype, threads }),
        });
      // edgetier's CPU engine in this process: --threads N (0: one thread; its pool never picks a count).
      const cpuEngine = (dtype: Dtype, asked: number) => {
        const threads = asked > 0 ? asked : 1;
        if (
          plannedRows.some(
            (p) =>
              p.key.model === model.id &&
              p.key.engine === 'edgetier' &&
              p.key.device === 'cpu' &&
              p.key.dtype === dtype &&
              p.key.threads === threads,
          )
        )
          return;
        let first: LoadInfo | null = null;
        plannedRows.push({
          key: {
            model: model.id,
            engine: 'edgetier',
            device: 'cpu',
            dtype,
            threads,
            ort_build: 'edgetier-wasm',
          },
          target: async () =>
            nativeTarget(model.source, { dtype, threads, runtime: 'edgetier' }, (info) => {
              first ??= info;
            }),
          // Its note says which kernels and KV cache ran, as a wasm row's does (LoadInfo.cpuKernels).
          // `build` is never read for it: the pinned CPU engine runs or fails, it never hands the
          // model to ORT, so runtimeOutcome sees engine edgetier-wasm.
          loaded: () => (first ? { ...first, build: 'wasm' } : null),
        });
      };
      const cpuEngines = options.cpuEngines ?? ['onnxruntime'];
      // The planned row (the one already planned for this configuration, if any).
      const inBrowser = (device: 'wasm' | 'webgpu', dtype: Dtype, asked: number): Planned => {
        const build = device === 'webgpu' ? 'webgpu' : caps ? cpuBuild(caps) : 'jspi';
        const threads = device === 'webgpu' ? 1 : asked > 0 ? asked : caps ? wasmThreads(caps) : 0;
        const planned = plannedRows.find(
          (p) =>
            p.key.model === model.id &&
            p.key.device === device &&
            p.key.dtype === dtype &&
            p.key.threads === threads &&
            p.key.ort_build === build,
        );
        if (planned) return planned;
        const row: Planned = {
          key: {
            model: model.id,
            engine: 'edgetier',
            device,
            dtype,
            threads,
            ort_build: build,
            ...(device === 'wasm' ? { runtime: 'onnxruntime' as const } : {}),
          },
          // ORT pinned: 'auto' would run q8/q4 rows on the CPU engine under an ORT build's label.
          target: async () =>
            browser!.edgetierTarget(urlOf(), { device, dtype, threads, build, runtime: 'onnxruntime' }),
        };
        plannedRows.push(row);
        return row;
      };
      // edgetier's CPU engine in the engine worker: at each of --threads (0: the plan's, as for ORT),
      // its pool of Web Workers; a load that runs fewer threads than its row says fails the row.
      const inBrowserCpuEngine = (dtype: Dtype, asked: number) => {
        const threads = asked > 0 ? asked : caps ? wasmThreads(caps) : 0;
        if (
          plannedRows.some(
            (p) =>
              p.key.model === model.id &&
              p.key.device === 'wasm' &&
              p.key.dtype === dtype &&
              p.key.threads === threads &&
              p.key.ort_build === 'edgetier-wasm',
          )
        )
          return;
        let first: LoadedInfo | null = null;
        plannedRows.push({
          key: {
            model: model.id,
            engine: 'edgetier',
            device: 'wasm',
            dtype,
            threads,
            ort_build: 'edgetier-wasm',
            runtime: 'edgetier',
          },
          target: async () =>
            browser!.edgetierTarget(
              urlOf(),
              {
                device: 'wasm',
                dtype,
                threads,
                build: caps ? cpuBuild(caps) : 'jspi',
                runtime: 'edgetier',
              },
              (info) => {
                first ??= info;
              },
            ),
          // Its note says which kernels ran (LoadInfo.cpuKernels: relaxed SIMD or SIMD128).
          loaded: () => first,
        });
      };
      for (const device of options.devices) {
        for (const dtype of model.dtypes) {
          if (device === 'cpu') {
            if (cpuEngines.includes('onnxruntime')) for (const t of options.threads) native(dtype, t);
            if (cpuEngines.includes('edgetier')) for (const t of options.threads) cpuEngine(dtype, t);
          } else if (device === 'webgpu') inBrowser('webgpu', dtype, 1);
          else {
            if (cpuEngines.includes('onnxruntime'))
              for (const t of options.threads) inBrowser('wasm', dtype, t);
            if (cpuEngines.includes('edgetier'))
              for (const t of options.threads) inBrowserCpuEngine(dtype, t);
          }
        }
      }
      // edgetier's default: the planner's dtype and threads on runtime 'auto', as the app loads it
      // (edgetier's CPU engine for q8/q4, ORT on its refusal, on ortDtype where the plan gave one);
      // its build column is what ran.
      const defaultRow = (plan: DefaultRowsPlan) => {
        let first: LoadedInfo | null = null;
        plannedRows.push({
          key: {
            model: model.id,
            engine: 'edgetier',
            device: 'wasm',
            dtype: plan.load.dtype,
            threads: plan.load.threads,
            ort_build: plan.ortBuild,
            is_default: true,
            runtime: 'auto',
          },
          target: async () =>
            browser!.edgetierTarget(urlOf(), plan.load, (info) => {
              // One row, one runtime: a later round that ran another would mix two in its mean.
              if (first && first.engine !== info.engine)
                throw new EdgetierError(
                  'internal',
                  `'auto' ran ${first.engine} on an earlier load of this row and ${info.engine} now: the row would mix two runtimes.`,
                );
              first ??= info;
            }),
          loaded: () => first,
        });
      };
      if (options.baseline) {
        if (defaultChoice) {
          const plan = planDefaultRows(defaultChoice);
          defaultRow(plan);
          // The previous default, ORT-web (pinned) on ORT's own plan's dtype at the same threads (the
          // matrix's row where it has one), marked so that the report finds it among ORT-web's rows.
          if (plan.previousDefault)
            inBrowser('wasm', plan.previousDefault.dtype, plan.previousDefault.threads).key.previous_default =
              true;
        }
        const plannedNative = plannedRows
          .filter((p) => p.key.model === model.id && p.key.engine === 'native')
          .map((p) => ({ dtype: p.key.dtype as Dtype, threads: p.key.threads }));
        for (const c of baselineNativeRows(
          options.devices,
          model.dtypes,
          options.threads,
          defaultChoice,
          plannedNative,
        ))
          native(c.dtype, c.threads);
        // The stock setup twice: as a visitor gets it, and with the one change that gives it the
        // threads edgetier's default row runs with (ORT's default is half the cores, at most 4).
        const stock = (setup: 'defaults' | 'same threads', threads: number | null) => {
          let used = 0;
          plannedRows.push({
            key: {
              model: model.id,
              engine: 'transformers.js',
              device: 'wasm',
              dtype: 'default',
              threads: threads ?? 0,
              ort_build: 'webgpu',
              setup,
            },
            target: async () => {
              urlOf();
              const { target, threads: reported } = await browser!.stockTarget(model.dir!, threads);
              return {
                ...target,
                async load(cold) {
                  const timing = await target.load(cold);
                  used = reported();
                  return timing;
                },
              };
            },
            threadsUsed: () => used,
          });
        };
        stock('defaults', null);
        stock('same threads', defaultChoice?.threads ?? Math.max(...options.threads, 1));
      }
    }

    // One row per configuration and depth, each configuration's depths together (llama-bench's order).
    const configs = plannedRows.splice(0);
    for (const planned of configs)
      for (const depth of depths) {
        const refusal = depth > 0 ? depthRefusal(planned.key) : null;
        plannedRows.push({
          ...planned,
          key: { ...planned.key, depth },
          ...(refusal
            ? {
                target: async () => {
                  throw new EdgetierError('bad_request', refusal);
                },
              }
            : {}),
        });
      }
    // Rows take turns round after round (A B C A B C …); one round is the plain row-by-row run.
    const rounds = options.params.rounds ?? 1;
    const total = plannedRows.length * rounds;
    const labelOf = (planned: Planned, round: number) => {
      const threads = planned.key.threads ? `${planned.key.threads}t` : 'auto threads';
      const setup = planned.key.setup
        ? ` (${planned.key.setup})`
        : planned.key.is_default
          ? ' (default, auto)'
          : '';
      const depth = planned.key.depth ? ` @ d${planned.key.depth}` : '';
      return (
        `${planned.key.engine}${setup} ${planned.key.device} ${planned.key.dtype} ${threads}${depth}` +
        (rounds > 1 ? `, round ${round + 1} of ${rounds}` : '')
      );
    };
    const indexOf = (i: number, round: number) => round * plannedRows.length + i + 1;
    await measureInRounds(
      plannedRows.map((planned) => ({
        open: planned.target,
        vocabSize: models.find((m) => m.id === planned.key.model)!.facts.vocab_size,
        depth: planned.key.depth ?? 0,
      })),
      options.params,
      { rowBudgetMs: options.rowBudgetS * 1000 },
      {
        onTurn: (i, round) =>
          onEvent?.({
            kind: 'config',
            index: indexOf(i, round),
            total,
            label: labelOf(plannedRows[i]!, round),
          }),
        onStep: (i, round, step) =>
          onEvent?.({
            kind: 'step',
            index: indexOf(i, round),
            total,
            label: labelOf(plannedRows[i]!, round),
            step,
          }),
        onDone: (i, round, outcome) => {
          const planned = plannedRows[i]!;
          let measured: ConfigMeasurement | { code: string; message: string };
          if ('error' in outcome) {
            const { code, message } = errorOf(outcome.error);
            measured = { code, message: roundFailureMessage(message, outcome.round, rounds) };
          } else measured = outcome;
          const row = benchRow(planned.key, measured);
          const loaded = planned.loaded?.();
          if (loaded) {
            const ran = runtimeOutcome(loaded);
            row.ort_build = ran.ort_build;
            // ORT ran another file than the one planned (q8 for a q4 plan): the row is that file's.
            if (ran.dtype) row.dtype = ran.dtype;
            if (ran.note) row.note = [row.note, ran.note].filter(Boolean).join('; ');
          }
          const used = planned.threadsUsed?.();
          if (!row.error && used) {
            // ORT falls back to 1 thread without cross-origin isolation, whatever was asked.
            if (planned.key.threads > 0 && used !== planned.key.threads)
              row.note = [row.note, `ORT ran ${used} threads, not the ${planned.key.threads} asked`]
                .filter(Boolean)
                .join('; ');
            row.threads = used;
          }
          rows[i] = row;
          onEvent?.({ kind: 'row', index: indexOf(i, round), total, label: labelOf(planned, round), row });
        },
      },
    );
    const stockVersions = await browser?.stockVersions();
    if (stockVersions && stockVersions.transformers !== environment.transformers_version)
      notes.push(`The stock page reported transformers.js ${stockVersions.transformers}.`);
  } finally {
    await browser?.close();
  }
  if (options.rowBudgetS > 0)
    notes.push(rowBudgetNote(options.rowBudgetS, options.params.reps, options.params.warmup));
  const rounds = options.params.rounds ?? 1;
  if (rounds > 1)
    notes.push(
      `Rounds: the rows took turns ${rounds} times, each row running the same repetitions in every ` +
        `round (${options.params.reps / rounds}, or fewer under the row budget, fixed by its first round ` +
        'before any counted run), so every round weighs alike in its mean; only the first turn loads ' +
        'cold; ratios are also given per round.',
    );
  notes.push(
    "Every row streams: each generated token is detokenised as it comes, by the engine's own streaming " +
      "path (edgetier's chunk callback in the worker and natively, transformers.js's TextStreamer on the " +
      'stock page).',
  );
  if (options.baseline) {
    notes.push(
      'Stock transformers.js baseline, twice: "defaults" is pipeline("text-generation", model) with its ' +
        'default device, dtype and threads on the page\'s main thread, as a visitor gets it; "same threads" ' +
        "changes one thing, ORT's numThreads = the threads of edgetier's default row, each on its own page. " +
        "The only other deviation is that ORT's wasmPaths point at locally served files (no CDN is reachable " +
        "here). Their threads column is what ORT reported after loading. The same-threads ratio is edgetier's " +
        "engine; the defaults ratio adds the thread count a visitor's stock setup gets from ORT's default.",
    );
  }
  if (depths.some((d) => d > 0)) notes.push(depthReportNote(options.params.warmup));
  if (models.some((m) => m.facts.synthetic))
    notes.push(
      'Synthetic shape twins have random weights: their text is noise, their speed is that of the real shapes.',
    );
  if (browserError) notes.push(`Chromium could not start: ${browserError.message}`);
  return {
    schema: BENCH_SCHEMA,
    created_at: new Date().toISOString(),
    command: options.command,
    params: { ...options.params },
    environment,
    models: models.map((m) => m.facts),
    rows,
    ratios: computeRatios(rows),
    notes,
  };
}
