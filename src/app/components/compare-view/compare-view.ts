/**
 * Compare: one prompt to the on-device model and to a remote tier at once, both streaming side by
 * side, then the trade-off table (speed, cost, what left the device and where it went). The screen
 * a presenter shows.
 */
import { html, LitElement, nothing } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import { type CatalogEntry, estimateCostUsd } from '../../../core/catalog.ts';
import type { Engine, GenerateRequest, GenerateResult } from '../../../core/engine.ts';
import {
  type RenderedAnswer,
  renderAnswer,
  StreamingRenderer,
  truncationNote,
} from '../../markdown/markdown.ts';
import { type AppState, messageOf } from '../../state/app-state.ts';
import { LiveMetrics } from '../../state/live-metrics.ts';
import type { SettingsStore } from '../../state/settings-store.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles, viewPageStyles } from '../../styles/shared.styles.ts';
import { fmtMs, fmtRate } from '../metrics-panel/metrics-panel.ts';
import { compareViewStyles } from './compare-view.styles.ts';
import '../metrics-panel/metrics-panel.ts';

interface Side {
  entry: CatalogEntry;
  text: string;
  rendered: RenderedAnswer;
  renderer: StreamingRenderer;
  live: LiveMetrics;
  result: GenerateResult | null;
  error: string | null;
  running: boolean;
  bytesOut: number;
  /** The model that answered, as the server names it, and whether it is a synthetic twin. */
  served: string;
  synthetic: boolean;
}

export class EtCompareView extends LitElement {
  static override styles = [sharedStyles, viewPageStyles, compareViewStyles];
  static override properties = {
    app: { attribute: false },
    settings: { attribute: false },
    sides: { state: true },
    tierKey: { state: true },
  };

  declare app: AppState;
  declare settings: SettingsStore;
  declare sides: Side[];
  declare tierKey: string;
  #subscribed = false;
  /** Tiers whose model list was read, by the engine that read it: the model they serve. */
  #loadedTiers = new Map<string, { engine: Engine; model: string; synthetic: boolean }>();
  #frame: ReturnType<typeof setTimeout> | 0 = 0;

  constructor() {
    super();
    this.sides = [];
    this.tierKey = '';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('app') && this.app && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.app, this.settings).hostConnected();
    }
  }

  private get tiers(): CatalogEntry[] {
    return this.app.state.catalog.filter((e) => e.runs === 'remote');
  }

  private get tier(): CatalogEntry | undefined {
    return this.tiers.find((t) => t.key === this.tierKey) ?? this.tiers[0];
  }

  private get local(): CatalogEntry | undefined {
    const loaded = this.app.entry(this.app.state.loadedKey);
    return loaded?.runs === 'device' && this.app.state.status === 'ready' ? loaded : undefined;
  }

  private get running(): boolean {
    return this.sides.some((s) => s.running);
  }

  private async run(event: Event): Promise<void> {
    event.preventDefault();
    const prompt = (this.renderRoot.querySelector('#prompt') as HTMLTextAreaElement).value.trim();
    const local = this.local;
    const tier = this.tier;
    if (!prompt || !local || !tier || this.running) return;
    const { sampling } = this.settings.settings;
    const request: GenerateRequest = {
      messages: [{ role: 'user', content: prompt }],
      sampling,
      enableThinking: false,
    };
    this.sides = [local, tier].map((entry) => ({
      entry,
      text: '',
      rendered: renderAnswer(''),
      renderer: new StreamingRenderer(),
      live: new LiveMetrics(),
      result: null,
      error: null,
      running: true,
      bytesOut: 0,
      served: entry.remote ? entry.remote.model : entry.name,
      synthetic: entry.synthetic,
    }));
    await Promise.all(this.sides.map((side) => this.runSide(side, request)));
  }

  private async runSide(side: Side, request: GenerateRequest): Promise<void> {
    const engine = this.app.engineFor(side.entry);
    try {
      if (side.entry.remote) {
        if (this.#loadedTiers.get(side.entry.key)?.engine !== engine) {
          const info = await engine.load({
            source: { kind: 'hub', id: side.entry.remote.model || '' },
            device: 'wasm',
            dtype: 'fp32',
          });
          this.#loadedTiers.set(side.entry.key, { engine, model: info.modelId, synthetic: info.synthetic });
        }
        const served = this.#loadedTiers.get(side.entry.key)!;
        side.served = served.model;
        side.synthetic = served.synthetic;
        side.entry = { ...side.entry, remote: { ...side.entry.remote, model: served.model } };
        side.bytesOut = this.app.services.remoteRequestBytes(side.entry.remote!.model, request);
      } else {
        await engine.resetConversation();
      }
      side.live.start();
      side.result = await engine.generate(request, (chunk) => {
        side.text += chunk.text;
        side.live.chunk(chunk.tokens);
        this.scheduleRender();
      });
      side.text = side.result.text;
      side.live.finish(side.result.metrics);
    } catch (error) {
      side.error = messageOf(error);
      side.live.finish(null);
    }
    side.running = false;
    side.rendered = renderAnswer(side.text);
    this.sides = [...this.sides];
  }

  /**
   * Applies streamed text at most once per frame, and less often as the answers grow (as the chat
   * does); only a pane whose text changed is parsed again.
   */
  private scheduleRender(): void {
    if (this.#frame) return;
    const longest = Math.max(...this.sides.map((s) => s.text.length));
    this.#frame = setTimeout(
      () =>
        requestAnimationFrame(() => {
          this.#frame = 0;
          for (const s of this.sides) {
            if (s.running && s.rendered.totalChars !== s.text.length) s.rendered = s.renderer.render(s.text);
          }
          this.sides = [...this.sides];
        }),
      Math.min(250, longest / 20),
    );
  }

  private async stop(): Promise<void> {
    await Promise.all(
      this.sides.filter((s) => s.running).map((s) => this.app.engineFor(s.entry).interrupt()),
    );
  }

  private renderTable() {
    const done = this.sides.filter((s) => s.result);
    if (done.length < 2 || this.running) return nothing;
    const rows = this.sides.map((s) => {
      const m = s.result!.metrics;
      const outTokens = m.decodeTokens + (m.ttftMs > 0 ? 1 : 0);
      const promptTokens = m.prefillTokens + m.cachedPromptTokens;
      return {
        s,
        m,
        outTokens,
        cost: estimateCostUsd(s.entry, promptTokens, outTokens),
        where: s.entry.remote
          ? new URL(s.entry.remote.baseUrl || '/v1', location.href).host
          : 'Nowhere: stayed in this tab',
      };
    });
    const best = (values: number[], lowIsGood: boolean) => {
      const target = lowIsGood ? Math.min(...values) : Math.max(...values);
      return values.map((v) => v === target && values.some((x) => x !== v));
    };
    const ttftBest = best(
      rows.map((r) => r.m.ttftMs),
      true,
    );
    const rateBest = best(
      rows.map((r) => r.m.decodeTokPerSec),
      false,
    );
    const totalBest = best(
      rows.map((r) => r.m.totalMs),
      true,
    );
    const costBest = best(
      rows.map((r) => r.cost),
      true,
    );
    const bytesBest = best(
      rows.map((r) => r.s.bytesOut),
      true,
    );
    const cell = (text: string, good: boolean | undefined) =>
      html`<td class=${good ? 'better' : ''}>${text}</td>`;
    return html`<div class="table-wrap">
      <table data-testid="tradeoff">
        <caption>The trade-off</caption>
        <thead>
          <tr><th scope="col">Measure</th>${rows.map((r) => html`<th scope="col">${r.s.entry.name}</th>`)}</tr>
        </thead>
        <tbody>
          <tr><th scope="row">Time to first token</th>${rows.map((r, i) => cell(fmtMs(r.m.ttftMs), ttftBest[i]))}</tr>
          <tr><th scope="row">Decode speed</th>${rows.map((r, i) => cell(`${fmtRate(r.m.decodeTokPerSec)} tok/s`, rateBest[i]))}</tr>
          <tr><th scope="row">Total time</th>${rows.map((r, i) => cell(fmtMs(r.m.totalMs), totalBest[i]))}</tr>
          <tr><th scope="row">Tokens generated</th>${rows.map((r) => cell(String(r.outTokens), false))}</tr>
          <tr><th scope="row">Estimated cost</th>${rows.map((r, i) => cell(r.cost === 0 ? 'free' : `$${r.cost.toFixed(6)}`, costBest[i]))}</tr>
          <tr><th scope="row">Bytes that left the device</th>${rows.map((r, i) => cell(r.s.bytesOut.toLocaleString('en'), bytesBest[i]))}</tr>
          <tr><th scope="row">Where the data went</th>${rows.map((r) => cell(r.where, false))}</tr>
        </tbody>
      </table>
    </div>`;
  }

  private renderSide(side: Side) {
    return html`<section aria-label=${side.entry.name} aria-busy=${side.running}>
      <h2>
        ${side.entry.name}
        ${
          side.entry.runs === 'device'
            ? html`<span class="badge ok">on this device</span>`
            : html`<span class="badge">remote</span>`
        }
        ${side.synthetic ? html`<span class="badge synthetic">Synthetic twin</span>` : nothing}
        ${side.entry.remote && side.served ? html`<span class="muted served">serves <bdi>${side.served}</bdi></span>` : nothing}
      </h2>
      <div class="answer">${unsafeHTML(side.rendered.html)}${
        side.rendered.shownChars < side.rendered.totalChars
          ? html`<p class="muted">${truncationNote(side.rendered)}</p>`
          : nothing
      }${side.error ? html`<p class="error" role="alert">${side.error}</p>` : nothing}</div>
      <et-metrics-panel .live=${side.live}></et-metrics-panel>
    </section>`;
  }

  override render() {
    if (!this.app) return nothing;
    const local = this.local;
    const tiers = this.tiers;
    return html`
      <h1>Compare</h1>
      <p class="intro">One prompt, two places: the model in this tab and a full-scale tier, streaming side by side.</p>
      <form @submit=${this.run}>
        <div class="fields">
          <label for="prompt">Prompt</label>
          <textarea id="prompt" @keydown=${(e: KeyboardEvent) => {
            if (e.key === 'Enter' && !e.shiftKey) void this.run(e);
            if (e.key === 'Escape') void this.stop();
          }}>Explain in three sentences why small distilled models can run in a browser.</textarea>
          <div class="row">
            <span>On this device: <strong>${local ? local.name : 'none loaded'}</strong></span>
            ${!local ? html`<a href="#models">Load one</a>` : nothing}
            <label for="tier">Remote tier</label>
            <select id="tier" @change=${(e: Event) => (this.tierKey = (e.target as HTMLSelectElement).value)}>
              ${tiers.map((t) => html`<option value=${t.key} ?selected=${t.key === this.tier?.key}>${t.name}</option>`)}
            </select>
          </div>
        </div>
        ${
          this.running
            ? html`<button type="button" class="danger" @click=${this.stop}>Stop</button>`
            : html`<button type="submit" class="primary" ?disabled=${!local || tiers.length === 0}>Compare</button>`
        }
      </form>
      ${this.sides.length > 0 ? html`<div class="panes">${this.sides.map((s) => this.renderSide(s))}</div>` : nothing}
      ${this.renderTable()}
    `;
  }
}

customElements.define('et-compare-view', EtCompareView);

declare global {
  interface HTMLElementTagNameMap {
    'et-compare-view': EtCompareView;
  }
}
