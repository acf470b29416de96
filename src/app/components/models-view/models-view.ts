/**
 * The variant spectrum: every tier from the smallest on-device model to the full-scale remote one,
 * with what a person needs to choose (size, format, memory, context, licence, where it runs,
 * whether it fits here, whether it is cached), and the browser cache's contents with delete.
 */
import { html, LitElement, nothing } from 'lit';
import {
  type CatalogEntry,
  estimateDownloadBytes,
  type FitVerdict,
  formatBytes,
  formatParams,
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

/** Bar length on a log scale from 100K to 100B parameters; remote tiers fill it. */
export function sizeBarPercent(entry: CatalogEntry): number {
  if (entry.runs === 'remote' || entry.params === null) return 100;
  return Math.max(4, Math.min(100, ((Math.log10(entry.params) - 5) / 6) * 100));
}

/** The loaded model's device and runtime, and why ORT runs it when edgetier's CPU engine was asked for. */
function runsOn(info: LoadInfo | null): string {
  if (!info) return 'WASM';
  const device = info.device === 'webgpu' ? 'WebGPU' : 'WASM';
  const runtime = info.engine === 'edgetier-wasm' ? "edgetier's CPU engine" : 'ONNX Runtime';
  const why = info.fallback ? `; edgetier's CPU engine refused it: ${info.fallback.reason}` : '';
  return `${device}, ${runtime}${why}`;
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
    return html`<nav aria-label="Spectrum, smallest to full scale">
        <div class="spectrum">
          ${catalog.map(
            (e) => html`<a href="#model-${slug(e.key)}" class=${e.runs} title=${e.name}
              @click=${(ev: Event) => {
                ev.preventDefault();
                this.renderRoot.querySelector(`#model-${slug(e.key)}`)?.scrollIntoView({ block: 'center' });
              }}>
              <strong>${e.name}</strong>
              <span class="muted">${e.runs === 'remote' ? 'server' : formatParams(e.params)}</span>
              <span class="size" ${widthPercent(sizeBarPercent(e))}></span>
            </a>`,
          )}
        </div>
      </nav>
      <div class="axis" aria-hidden="true"><span>← smallest, private, free</span><span>full scale, remote →</span></div>`;
  }

  private renderCard(entry: CatalogEntry) {
    const { selectedKey, loadedKey, status } = this.app.state;
    const dtype = this.app.dtypeFor(entry);
    const fit = this.app.fit(entry);
    const cached = this.app.isCached(entry);
    const download = estimateDownloadBytes(entry, dtype);
    const exact = entry.downloadBytes[dtype] !== undefined;
    const verdict = VERDICT[fit.verdict];
    const loaded = loadedKey === entry.key && status === 'ready';
    return html`<article id="model-${slug(entry.key)}" class=${selectedKey === entry.key ? 'selected' : ''}
      aria-labelledby="name-${slug(entry.key)}">
      <h3 id="name-${slug(entry.key)}"><bdi>${entry.name}</bdi></h3>
      <div class="badges">
        ${entry.synthetic ? html`<span class="badge synthetic">Synthetic twin</span>` : nothing}
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
              <dt>Cached</dt><dd>${cached ? formatBytes(cached.bytes) : 'not yet'}</dd>
            `
            : html`
              <dt>Model</dt><dd>${entry.remote?.model || 'server default'}</dd>
              <dt>Runs</dt><dd>${entry.remote?.baseUrl || 'this server (edgetier serve)'}</dd>
              <dt>Price</dt><dd>$${entry.remote?.priceInPerMTok} in / $${entry.remote?.priceOutPerMTok} out per M tokens</dd>
              <dt>Privacy</dt><dd>Messages leave this device</dd>
            `
        }
      </dl>
      <p class="fit">${fit.reason}</p>
      ${entry.note ? html`<p class="note">${entry.note}</p>` : nothing}
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
        From the smallest model that runs privately in this tab to the full-scale tier on a server. Sizes
        marked ≈ are estimates from the parameter count.
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
