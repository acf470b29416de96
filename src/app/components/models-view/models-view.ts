/**
 * The variant spectrum: every tier from the smallest on-device model to the remote one, drawn on a
 * linear parameter axis (a remote tier placed by the model its server says it serves, else marked
 * "size unknown"), with what a person needs to choose (size, format, memory, context, licence,
 * where it runs, whether it fits here and how fast it should run here, whether it is cached), and
 * the browser cache's contents with delete.
 */
import { html, LitElement, nothing } from 'lit';
import {
  type CatalogEntry,
  estimateDownloadBytes,
  type FitVerdict,
  formatBytes,
  formatParams,
  formatTokPerSec,
  SLOW_DECODE_TOK_PER_SEC,
  type SpeedExpectation,
  spectrumLabels,
} from '../../../core/catalog.ts';
import type { Dtype } from '../../../core/dtypes.ts';
import type { LoadInfo } from '../../../core/engine.ts';
import { widthPercent } from '../../directives/width-percent.ts';
import type { AppState } from '../../state/app-state.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles, viewPageStyles } from '../../styles/shared.styles.ts';
import { modelsViewStyles } from './models-view.styles.ts';

const VERDICT: Record<FitVerdict, { label: string; cls: string }> = {
  fits: { label: 'Fits this device', cls: 'ok' },
  tight: { label: 'Tight fit', cls: '' },
  'too-big': { label: 'Too big here', cls: 'bad' },
  remote: { label: 'Runs on a server', cls: '' },
};

/**
 * The parameter count a spectrum bar stands for: a device model's own, a remote tier's served
 * model's where its server says it; null when unknown.
 */
export function spectrumParams(entry: CatalogEntry, servedParams?: number): number | null {
  if (entry.runs === 'remote') return servedParams ?? null;
  return entry.params;
}

/** Bar length on a linear scale: `params` as a share of the largest model on the spectrum. */
export function sizeBarPercent(params: number, largest: number): number {
  return largest > 0 ? Math.min(100, (params / largest) * 100) : 0;
}

/**
 * The loaded model's device and runtime, and why that runtime: the CPU engine setting's choice
 * (LoadInfo.runtimeChoice), or why ORT runs it when edgetier's CPU engine refused it.
 */
function runsOn(info: LoadInfo | null): string {
  if (!info) return 'WASM';
  const device = info.device === 'webgpu' ? 'WebGPU' : 'WASM';
  const cpuEngine = info.engine === 'edgetier-wasm';
  // The CPU engine's threads are its own pool's: how many run, and why fewer than asked.
  const kernels = cpuEngine && info.cpuKernels ? ` (${info.cpuKernels})` : '';
  const runtime = cpuEngine
    ? `edgetier's CPU engine${kernels}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`
    : 'ONNX Runtime';
  // A q4 planned for the engine and refused runs as q8 on ORT (ORT decodes q4 at a few tokens/s).
  const replanned = info.fallback?.plannedDtype
    ? ` (${info.fallback.plannedDtype} was planned for it; ONNX Runtime loads ${info.dtype} instead)`
    : '';
  const why = info.fallback
    ? `; edgetier's CPU engine refused it${replanned}: ${info.fallback.reason}`
    : info.runtimeChoice
      ? `; ${info.runtimeChoice.reason.replace(/\.$/, '')}`
      : '';
  const fewer =
    cpuEngine && info.threadsFallback
      ? `; not ${info.threadsFallback.asked}: ${info.threadsFallback.reason}`
      : '';
  return `${device}, ${runtime}${why}${fewer}`;
}

const slug = (key: string) => key.replace(/[^a-z0-9]+/gi, '-').toLowerCase();

export class EtModelsView extends LitElement {
  static override styles = [sharedStyles, viewPageStyles, modelsViewStyles];
  static override properties = { app: { attribute: false } };

  declare app: AppState;
  #subscribed = false;

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('app') && this.app && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.app).hostConnected();
      void this.app.refreshCached();
      // Asked from this view (counted here, never against the Chat view's privacy badge).
      void this.app.describeTiers();
    }
  }

  private use(entry: CatalogEntry): void {
    location.hash = '#chat';
    void this.app.select(entry.key);
  }

  private renderDevice() {
    const b = this.app.budget;
    return html`<p class="device">
      <span>This device:</span>
      <span class="badge ${b.webgpu ? 'ok' : ''}">${b.webgpu ? 'WebGPU' : 'no WebGPU'}</span>
      ${b.webgpu ? html`<span class="badge">${b.shaderF16 ? 'shader-f16' : 'no shader-f16'}</span>` : nothing}
      <span class="badge">WASM</span>
      <span class="badge">${b.deviceMemoryGiB ? `${b.deviceMemoryGiB} GiB memory reported` : 'memory not reported'}</span>
      ${
        this.app.state.storage
          ? html`<span class="badge" data-testid="storage"
            >Storage used ${formatBytes(this.app.state.storage.usageBytes)} of
            ${formatBytes(this.app.state.storage.quotaBytes)}</span
          >`
          : nothing
      }
    </p>`;
  }

  private renderSpectrum(catalog: CatalogEntry[]) {
    const labels = spectrumLabels(catalog);
    const params = new Map(
      catalog.map((e) => [e.key, spectrumParams(e, this.app.state.served[e.key]?.params)] as const),
    );
    const largest = Math.max(0, ...[...params.values()].map((p) => p ?? 0));
    return html`<nav aria-label="Spectrum by parameter count">
        <ol class="spectrum">
          ${catalog.map((e) => {
            const p = params.get(e.key) ?? null;
            const served = this.app.state.served[e.key];
            const twin = e.runs === 'remote' ? served?.synthetic === true : e.synthetic;
            return html`<li>
              <a href="#model-${slug(e.key)}" class=${e.runs} data-key=${e.key} data-params=${p ?? ''}
                title=${`${e.name}: ${p === null ? 'size unknown' : `${formatParams(p)} parameters`}`}
                @click=${(ev: Event) => {
                  ev.preventDefault();
                  const card = this.renderRoot.querySelector<HTMLElement>(`#model-${slug(e.key)}`);
                  card?.scrollIntoView({ block: 'center' });
                  // As a followed in-page link does: focus moves there, so Tab goes on inside the card.
                  card?.focus({ preventScroll: true });
                }}>
                <strong class="label"><bdi>${labels.get(e.key)}</bdi></strong>
                <span class="muted size-text">${
                  e.runs === 'remote'
                    ? p === null
                      ? 'server · size unknown'
                      : `server · ${formatParams(p)}`
                    : formatParams(p)
                }${twin ? html` <span class="badge synthetic">twin</span>` : nothing}</span>
                <span class="track ${p === null ? 'unknown' : ''}">${
                  p === null
                    ? nothing
                    : html`<span class="size" ${widthPercent(sizeBarPercent(p, largest))}></span>`
                }</span>
              </a>
            </li>`;
          })}
        </ol>
      </nav>
      <p class="axis">
        Bars: parameter count on a linear scale, a full bar is ${formatParams(largest)}. A remote tier is placed by
        the model its server says it serves.
      </p>`;
  }

  /** The speed expectation a card shows: the figure and where it comes from. */
  private renderSpeed(speed: SpeedExpectation | null, device: string) {
    if (!speed) {
      return html`<dt>Speed here</dt><dd>${
        device === 'webgpu' ? 'not measured on a GPU yet: run Bench' : 'unknown: run Bench to measure it'
      }</dd>`;
    }
    return html`<dt>Speed here</dt>
      <dd data-testid="speed">
        ${speed.atLeast ? 'at least ' : speed.source === 'plan' ? 'about ' : ''}${formatTokPerSec(speed.decodeTokPerSec)}
        <span class="muted">(${speed.basis})</span>
      </dd>`;
  }

  private renderCard(entry: CatalogEntry) {
    const { selectedKey, loadedKey, status } = this.app.state;
    const dtype = this.app.dtypeFor(entry);
    const fit = this.app.fit(entry);
    const cached = this.app.isCached(entry);
    const download = estimateDownloadBytes(entry, dtype);
    const exact = entry.downloadBytes[dtype] !== undefined;
    const speed = this.app.speed(entry);
    const slow = speed !== null && speed.decodeTokPerSec < SLOW_DECODE_TOK_PER_SEC;
    const verdict =
      fit.verdict === 'fits' && slow ? { label: 'Fits, but slow here', cls: 'warn' } : VERDICT[fit.verdict];
    const loaded = loadedKey === entry.key && status === 'ready';
    const served = entry.runs === 'remote' ? this.app.state.served[entry.key] : undefined;
    const twin = entry.synthetic || served?.synthetic === true;
    return html`<article id="model-${slug(entry.key)}" tabindex="-1" class=${selectedKey === entry.key ? 'selected' : ''}
      aria-labelledby="name-${slug(entry.key)}">
      <h3 id="name-${slug(entry.key)}"><bdi>${entry.name}</bdi></h3>
      <div class="badges">
        ${twin ? html`<span class="badge synthetic">Synthetic twin</span>` : nothing}
        ${entry.reasoning ? html`<span class="badge">Reasoning</span>` : nothing}
        ${cached ? html`<span class="badge ok">Cached</span>` : nothing}
        ${loaded ? html`<span class="badge ok">Loaded</span>` : nothing}
        <span class="badge ${verdict.cls}">${verdict.label}</span>
      </div>
      <dl>
        ${
          entry.runs === 'device'
            ? html`
              <dt>Parameters</dt><dd>${formatParams(entry.params)}</dd>
              <dt><label for="dtype-${slug(entry.key)}">Quantisation</label></dt>
              <dd>
                <select id="dtype-${slug(entry.key)}"
                  @change=${(e: Event) => this.app.setDtype(entry.key, (e.target as HTMLSelectElement).value as Dtype)}>
                  ${entry.dtypes.map((d) => html`<option value=${d} ?selected=${d === dtype}>${d}</option>`)}
                </select>
              </dd>
              <dt>Download</dt><dd>${download === null ? 'unknown' : `${exact ? '' : '≈ '}${formatBytes(download)}`}</dd>
              <dt>Memory</dt><dd>${fit.memoryBytes === null ? 'unknown' : `≈ ${formatBytes(fit.memoryBytes)}`}</dd>
              <dt>Context</dt><dd>${entry.contextLength ? `${entry.contextLength.toLocaleString('en')} tokens` : 'unknown'}</dd>
              <dt>Licence</dt><dd>${entry.licence}</dd>
              <dt>Runs</dt><dd>In this tab (${loaded ? runsOn(this.app.state.loadInfo) : fit.device === 'webgpu' ? 'WebGPU' : 'WASM'})</dd>
              ${this.renderSpeed(speed, fit.device)}
              <dt>Cached</dt><dd>${cached ? formatBytes(cached.bytes) : 'not yet'}</dd>
            `
            : html`
              <dt>Model</dt><dd data-testid="served-model"><bdi>${
                served?.id ??
                (entry.remote?.model ||
                  (served === null
                    ? 'its default (the server was not asked or did not say)'
                    : 'asking the server…'))
              }</bdi></dd>
              <dt>Parameters</dt><dd>${served?.params ? formatParams(served.params) : 'unknown'}</dd>
              ${
                served?.synthetic
                  ? html`<dt>Twin of</dt><dd><bdi>${served.mirrors ?? 'no real model (a test shape)'}</bdi></dd>`
                  : nothing
              }
              <dt>Runs</dt><dd>${entry.remote?.baseUrl || 'this server (edgetier serve)'}</dd>
              <dt>Price</dt><dd>$${entry.remote?.priceInPerMTok} in / $${entry.remote?.priceOutPerMTok} out per M tokens</dd>
              <dt>Privacy</dt><dd>Messages leave this device</dd>
            `
        }
      </dl>
      <p class="fit">${fit.reason}</p>
      ${
        served?.synthetic
          ? html`<p class="note">This tier serves a synthetic twin: random weights, so its answers are noise, not a full-scale model's.</p>`
          : entry.note
            ? html`<p class="note">${entry.note}</p>`
            : nothing
      }
      <div class="actions">
        <button class="primary" aria-label=${`Use ${entry.name}`} ?disabled=${fit.verdict === 'too-big'}
          @click=${() => this.use(entry)}>Use</button>
        ${
          cached
            ? html`<button class="danger" aria-label=${`Delete from cache: ${entry.name}`}
              @click=${() => this.app.deleteCached(cached.id)}>Delete from cache</button>`
            : nothing
        }
      </div>
    </article>`;
  }

  private renderCache() {
    const { cached } = this.app.state;
    return html`<h2 id="cache-title">Cached in this browser</h2>
      ${
        cached.length === 0
          ? html`<p class="muted">Nothing cached yet: models are downloaded the first time you use them.</p>`
          : html`<table aria-labelledby="cache-title">
            <thead><tr><th scope="col">Model</th><th scope="col" class="num">Size</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              ${cached.map(
                (c) => html`<tr>
                  <td>${c.id}</td>
                  <td class="num">${formatBytes(c.bytes)}</td>
                  <td><button class="danger" aria-label=${`Delete ${c.id} from the cache`} @click=${() => this.app.deleteCached(c.id)}>Delete</button></td>
                </tr>`,
              )}
            </tbody>
          </table>`
      }`;
  }

  override render() {
    if (!this.app) return nothing;
    const { catalog } = this.app.state;
    const local = catalog.filter((e) => e.origin === 'server');
    const hub = catalog.filter((e) => e.origin === 'builtin');
    const remote = catalog.filter((e) => e.runs === 'remote');
    return html`
      <h1>Models</h1>
      <p class="intro">
        From the smallest model that runs privately in this tab to the tier on a server. Sizes marked ≈ are
        estimates from the parameter count; speeds are estimates until Bench measures them on this device.
      </p>
      ${this.renderDevice()} ${this.renderSpectrum(catalog)}
      ${
        local.length > 0
          ? html`<h2>Local folders on this server</h2><div class="grid">${local.map((e) => this.renderCard(e))}</div>`
          : nothing
      }
      <h2>On this device, from the Hugging Face Hub</h2>
      <div class="grid">${hub.map((e) => this.renderCard(e))}</div>
      <h2>Remote tiers</h2>
      ${
        remote.length > 0
          ? html`<div class="grid">${remote.map((e) => this.renderCard(e))}</div>`
          : html`<p class="muted">No remote tier configured: add one in <a href="#settings">Settings</a>.</p>`
      }
      ${this.renderCache()}
    `;
  }
}

customElements.define('et-models-view', EtModelsView);

declare global {
  interface HTMLElementTagNameMap {
    'et-models-view': EtModelsView;
  }
}
