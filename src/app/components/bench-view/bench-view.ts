/**
 * Bench: the visitor runs `edgetier bench`'s method on their own device (the page's WorkerEngine)
 * and gets the same JSON (edgetier-bench/1) to copy or download, and the same table, so results from
 * many devices can be gathered and compared with the CLI's reference results.
 *
 * Running a benchmark loads and unloads the model several times; the model that was loaded before is
 * loaded again afterwards.
 */
import { html, LitElement, nothing } from 'lit';
import { type BenchParams, type BenchStep, DEFAULT_BENCH_PARAMS } from '../../../core/bench/method.ts';
import { formatStats, toMarkdown } from '../../../core/bench/render.ts';
import type { BenchReport } from '../../../core/bench/schema.ts';
import { type CatalogEntry, cpuEngineWillRun } from '../../../core/catalog.ts';
import type { Dtype } from '../../../core/dtypes.ts';
import type { AppState } from '../../state/app-state.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles, viewPageStyles } from '../../styles/shared.styles.ts';
import { plannedBenchConfig, runDeviceBench } from './bench-runner.ts';
import { benchViewStyles } from './bench-view.styles.ts';

/**
 * What the form sets: the method's counts, and one depth (the view runs one row; the report's
 * params.depth lists it when it is not 0).
 */
type FormParams = Pick<BenchParams, 'pp' | 'tg' | 'reps' | 'warmup'> & { depth: number };

/**
 * The view benchmarks one row, so it has no use for rounds (rows taking turns); warm-up is the
 * plain count a visitor sets. A depth past the model's context window fails the row with the
 * engine's context_overflow message.
 */
const PARAM_FIELDS: { key: keyof FormParams; label: string; min: number; max: number }[] = [
  { key: 'pp', label: 'Prompt tokens (pp)', min: 0, max: 4096 },
  { key: 'tg', label: 'Generated tokens (tg)', min: 0, max: 1024 },
  { key: 'depth', label: 'Context depth (tokens already in the cache)', min: 0, max: 131072 },
  { key: 'reps', label: 'Repetitions', min: 1, max: 20 },
  { key: 'warmup', label: 'Warm-up runs', min: 0, max: 5 },
];

const DEFAULT_FORM: FormParams = { ...DEFAULT_BENCH_PARAMS, depth: 0 };

function describeStep(step: BenchStep): string {
  // The app never empties the visitor's cache, so its first load is cold only when nothing was cached.
  if (step.kind === 'load') return step.cold ? 'First load…' : 'Second load…';
  if (step.kind === 'fill') return `Reading ${step.depth} tokens of context…`;
  return `${step.test} ${step.warmup ? 'warm-up' : 'run'} ${step.rep} of ${step.of}…`;
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export class EtBenchView extends LitElement {
  static override styles = [sharedStyles, viewPageStyles, benchViewStyles];
  static override properties = {
    app: { attribute: false },
    modelKey: { state: true },
    params: { state: true },
    running: { state: true },
    step: { state: true },
    report: { state: true },
    copied: { state: true },
    cachedBefore: { state: true },
    refusal: { state: true },
  };

  declare app: AppState | undefined;
  declare modelKey: string;
  declare params: FormParams;
  declare running: boolean;
  declare step: string;
  declare report: BenchReport | null;
  declare copied: boolean;
  /** The model was in the browser cache when the run started: its first load was not cold. */
  declare cachedBefore: boolean;
  /** Why the last Run was refused or ended early (shown until the next run). */
  declare refusal: string;
  #subscribed = false;
  #stopRequested = false;

  constructor() {
    super();
    this.modelKey = '';
    this.params = { ...DEFAULT_FORM };
    this.running = false;
    this.step = '';
    this.report = null;
    this.copied = false;
    this.cachedBefore = false;
    this.refusal = '';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('app') && this.app && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.app).hostConnected();
    }
  }

  private get models(): CatalogEntry[] {
    return this.app?.state.catalog.filter((e) => e.runs === 'device' && e.source) ?? [];
  }

  private get model(): CatalogEntry | undefined {
    const models = this.models;
    return (
      models.find((m) => m.key === this.modelKey) ??
      models.find((m) => m.key === this.app?.state.selectedKey) ??
      models[0]
    );
  }

  private async run(event: Event): Promise<void> {
    event.preventDefault();
    const app = this.app;
    const entry = this.model;
    if (!app || !entry || this.running) return;
    const form = event.target as HTMLFormElement;
    const fields = { ...this.params };
    for (const f of PARAM_FIELDS) {
      const value = Number((form.elements.namedItem(f.key) as HTMLInputElement).value);
      fields[f.key] = Number.isInteger(value) ? Math.min(f.max, Math.max(f.min, value)) : DEFAULT_FORM[f.key];
    }
    this.params = fields;
    const { depth, ...counts } = fields;
    const params: BenchParams = { ...counts, ...(depth > 0 ? { depth: [depth] } : {}) };
    if (params.pp === 0 && params.tg === 0) {
      this.refusal = 'Nothing to measure: set Prompt tokens (pp) or Generated tokens (tg) above 0, or both.';
      return;
    }
    this.refusal = '';
    this.#stopRequested = false;
    const wasLoaded = app.entry(app.state.loadedKey);
    const cachedBefore = app.isCached(entry) !== undefined;
    this.cachedBefore = cachedBefore;
    this.running = true;
    this.report = null;
    this.copied = false;
    void this.keepFocusOn('button.danger'); // Run turned into Stop: the focus follows it
    try {
      const engine = app.localEngine();
      // What the chats load (AppState.loadPlan: Settings' forced backend, the visitor's dtype or the
      // cached file the chats take, the CPU engine setting, ORT's dtype on a refusal); the plan, asked
      // for that device and dtype, adds the threads the worker would run.
      const load = app.loadPlan(entry);
      const planned = await plannedBenchConfig(
        engine,
        entry,
        { device: load.device, dtype: load.dtype },
        { device: load.device, dtype: load.dtype },
        load.runtime,
      );
      const config = {
        entry,
        ...planned,
        ...(load.ortDtype ? { ortDtype: load.ortDtype } : {}),
        params,
        cachedBefore,
        runtime: load.runtime,
      };
      const report = await runDeviceBench(engine, config, (step) => {
        // Stop ends the run at the next step (the running generation is interrupted at once).
        if (this.#stopRequested) throw new Error('stopped');
        this.step = describeStep(step);
      });
      if (this.#stopRequested) this.refusal = 'Stopped: no figures, since the run did not finish.';
      else {
        this.report = report;
        // The Models view's speed expectation for this model becomes this measurement.
        const row = report.rows[0];
        // Only an empty cache's speed: a depth row decodes slower than a new conversation starts.
        if (
          row &&
          !row.error &&
          row.tg_tok_s &&
          !row.depth &&
          (row.device === 'wasm' || row.device === 'webgpu')
        ) {
          app.recordBenchSpeed(entry.key, {
            decodeTokPerSec: row.tg_tok_s.mean,
            device: row.device,
            dtype: row.dtype as Dtype,
            threads: row.threads,
            tg: params.tg,
            ...(row.ort_build === 'edgetier-wasm'
              ? { cpuEngine: true }
              : row.device === 'wasm' &&
                  cpuEngineWillRun(entry, load.dtype, 'wasm', load.runtime, app.budget.wasmSimd === true)
                ? { refused: load.dtype }
                : {}),
          });
        }
      }
    } finally {
      this.running = false;
      this.step = '';
      void this.keepFocusOn('button[type="submit"]');
      // The benchmark unloaded the engine: give the visitor back the model they had.
      if (wasLoaded && wasLoaded.runs === 'device') await app.load(wasLoaded);
    }
  }

  /** Moves the focus to the button that replaced the focused one (else the focus falls to the page). */
  private async keepFocusOn(selector: string): Promise<void> {
    const root = this.renderRoot as ShadowRoot;
    const focused = root.activeElement;
    const hadFocus = focused !== null && root.querySelector('form')?.contains(focused) === true;
    await this.updateComplete;
    if (hadFocus) root.querySelector<HTMLButtonElement>(selector)?.focus();
  }

  private stop(): void {
    if (!this.running || !this.app) return;
    this.#stopRequested = true;
    this.step = 'Stopping…';
    void this.app.localEngine().interrupt();
  }

  /** The catalog's name for a model key (the key itself for one the catalog does not hold). */
  private nameOf(key: string): string {
    return this.app?.entry(key)?.name ?? key;
  }

  private get json(): string {
    return `${JSON.stringify(this.report, null, 2)}\n`;
  }

  private async copy(): Promise<void> {
    await navigator.clipboard.writeText(this.json);
    this.copied = true;
  }

  private renderTable(report: BenchReport) {
    const { pp, tg, reps, warmup } = report.params;
    const row = report.rows[0];
    // The runs the row really counted: the row budget may have cut `reps`.
    const n = row?.tg_tok_s?.n ?? row?.pp_tok_s?.n ?? 0;
    // A narrow screen scrolls the table sideways in this box: focusable, so a keyboard can scroll it.
    return html`<div class="table-wrap" role="region" aria-label="Benchmark table" tabindex="0">
      <table>
        <caption>
          ${
            // One run has no spread: no "±" to explain, and "1 run", not "1 runs".
            n === 1 ? 'One run, no spread to show' : `Mean ± standard deviation over ${n} runs`
          }${n < reps ? ` (${reps} asked; the row budget cut the rest)` : ''},
          after ${warmup} warm-up run(s) not counted. ${
            row?.depth
              ? `Each test ran with ${row.depth} tokens already in the cache (filled before it, not timed). `
              : ''
          }${
            this.cachedBefore
              ? 'Both loads read the model from the browser cache.'
              : 'The first load downloaded the model.'
          }
        </caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Device</th>
            <th scope="col">dtype</th>
            <th scope="col">Threads</th>
            <th scope="col" title="What ran the model: edgetier-wasm is edgetier's own CPU engine; jspi or wasm is ONNX Runtime Web's build on the CPU, webgpu on the GPU">
              Runtime
            </th>
            <th scope="col">pp${pp} tok/s</th>
            <th scope="col">tg${tg} tok/s</th>
            <th scope="col">TTFT ms</th>
            <th scope="col">Load first / second ms</th>
            <th scope="col">Peak MiB</th>
          </tr>
        </thead>
        <tbody>
          ${report.rows.map(
            (r) =>
              html`<tr>
                <th scope="row" title=${r.model}>${this.nameOf(r.model)}</th>
                <td>${r.device}</td>
                <td>${r.dtype}</td>
                <td class="num">${r.threads > 0 ? r.threads : 'auto'}</td>
                <td>${r.ort_build === 'edgetier-wasm' ? "edgetier's CPU engine" : `ONNX Runtime Web (${r.ort_build})`}</td>
                ${
                  r.error
                    ? html`<td colspan="5" class="error">Could not run (${r.error.code}): ${r.error.message}</td>`
                    : html`<td class="num">${formatStats(r.pp_tok_s)}</td>
                      <td class="num">${formatStats(r.tg_tok_s)}</td>
                      <td class="num">${r.ttft_ms ? r.ttft_ms.mean.toFixed(0) : '—'}</td>
                      <td class="num">
                        ${r.load ? `${r.load.cold_ms.toFixed(0)} / ${r.load.warm_ms.toFixed(0)}` : '—'}
                      </td>
                      <td class="num">
                        ${r.peak_memory_bytes === null ? '—' : (r.peak_memory_bytes / 1024 ** 2).toFixed(0)}
                      </td>`
                }
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${report.rows.map((r) => (r.note && !r.error ? html`<p class="muted">${r.note}</p>` : nothing))}`;
  }

  override render() {
    const models = this.models;
    const model = this.model;
    const report = this.report;
    return html`<h1>Bench</h1>
      <p class="muted">
        Measures how fast a model runs on this device, the way <code>edgetier bench</code> does on the command
        line: <strong>pp</strong> is prompt processing (a prompt of exactly N tokens), <strong>tg</strong> text
        generation (N new tokens), in tokens per second. The JSON is the same as the command's, so results
        from many devices can be compared.
      </p>
      <slot>
        ${
          models.length === 0
            ? html`<p>No on-device model is available: add one in Models first.</p>`
            : html`<form @submit=${this.run}>
              <label
                >Model to benchmark
                <select
                  name="model"
                  .value=${model?.key ?? ''}
                  ?disabled=${this.running}
                  @change=${(e: Event) => {
                    this.modelKey = (e.target as HTMLSelectElement).value;
                  }}
                >
                  ${models.map(
                    (m) =>
                      html`<option value=${m.key} ?selected=${m.key === model?.key}>
                        ${m.name}${m.synthetic ? ' (synthetic twin)' : ''}
                      </option>`,
                  )}
                </select>
              </label>
              <div class="params">
                ${PARAM_FIELDS.map(
                  (f) =>
                    html`<label
                      >${f.label}
                      <input
                        type="number"
                        name=${f.key}
                        min=${f.min}
                        max=${f.max}
                        .value=${String(this.params[f.key])}
                        ?disabled=${this.running}
                    /></label>`,
                )}
              </div>
              ${
                this.running
                  ? html`<button class="danger" type="button" @click=${this.stop}>Stop</button>`
                  : html`<button class="primary" type="submit" ?disabled=${!model}>Run benchmark</button>`
              }
              <p class="muted" role="status" aria-live="polite">${this.step}</p>
              ${this.refusal ? html`<p class="error" role="alert">${this.refusal}</p>` : nothing}
            </form>`
        }
        ${
          report
            ? html`<section aria-label="Results">
              <h2>Results</h2>
              ${this.renderTable(report)}
              ${
                report.models[0]?.synthetic
                  ? html`<p class="muted">Synthetic shape twin: random weights, real speed.</p>`
                  : nothing
              }
              <div class="actions">
                <button type="button" @click=${this.copy}>${this.copied ? 'Copied' : 'Copy JSON'}</button>
                <button type="button" @click=${() => download('edgetier-bench.json', 'application/json', this.json)}>
                  Download JSON
                </button>
                <button
                  type="button"
                  @click=${() => download('edgetier-bench.md', 'text/markdown', toMarkdown(report))}
                >
                  Download Markdown
                </button>
              </div>
            </section>`
            : nothing
        }
      </slot>`;
  }
}

customElements.define('et-bench-view', EtBenchView);

declare global {
  interface HTMLElementTagNameMap {
    'et-bench-view': EtBenchView;
  }
}
