/**
 * Compare: one prompt to the on-device model and to a remote tier, one after the other by default
 * (or at once, which says what the two share), then the trade-off table first (what each side is
 * and what the run measured), the two answers under it. A tier that cannot be reached keeps the
 * local side's figures and says why, with Retry and a link to Settings. The screen a presenter shows.
 */
import { html, LitElement, nothing } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import type { CatalogEntry } from '../../../core/catalog.ts';
import type { Engine, GenerateRequest } from '../../../core/engine.ts';
import { EdgetierError, isEdgetierError } from '../../../core/errors.ts';
import { renderAnswer, StreamingRenderer, truncationNote } from '../../markdown/markdown.ts';
import { type AppState, messageOf } from '../../state/app-state.ts';
import { LiveMetrics } from '../../state/live-metrics.ts';
import type { SettingsStore } from '../../state/settings-store.ts';
import { StoreController } from '../../state/store.ts';
import { explainTierError, tierOnThisComputer, tierUrlProblem } from '../../state/tier-errors.ts';
import { sharedStyles, viewPageStyles } from '../../styles/shared.styles.ts';
import { type RunMode, renderTradeoff, type Side } from './compare-table.ts';
import { compareViewStyles } from './compare-view.styles.ts';
import '../metrics-panel/metrics-panel.ts';

/** What a tier's failure in Compare ends with. */
const TIER_ADVICE = "Check the tier's address in Settings, then Retry.";

interface LoadedTier {
  engine: Engine;
  model: string;
  synthetic: boolean;
  params: number | null;
}

export class EtCompareView extends LitElement {
  static override styles = [sharedStyles, viewPageStyles, compareViewStyles];
  static override properties = {
    app: { attribute: false },
    settings: { attribute: false },
    sides: { state: true },
    atOnce: { state: true },
    mode: { state: true },
  };

  declare app: AppState;
  declare settings: SettingsStore;
  declare sides: Side[];
  /** The visitor's choice for the next run: both sides at once instead of one after the other. */
  declare atOnce: boolean;
  /** How the last run ran. */
  declare mode: RunMode;
  #subscribed = false;
  /** Tiers whose model list was read, by the engine that read it: the model they serve. */
  #loadedTiers = new Map<string, LoadedTier>();
  #frame: ReturnType<typeof setTimeout> | 0 = 0;
  /** The last run's request (Retry sends it to the tier again). */
  #request: GenerateRequest | null = null;
  #stopped = false;
  /** Retry is sending the prompt to the tier again: the local side's figures stay on screen. */
  #retrying = false;

  constructor() {
    super();
    this.sides = [];
    this.atOnce = false;
    this.mode = 'sequential';
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('app') && this.app && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.app, this.settings).hostConnected();
      // The tiers are named by what they serve (asked once; start-up usually has).
      void this.app.describeTiers();
    }
  }

  private get tiers(): CatalogEntry[] {
    return this.app.state.catalog.filter((e) => e.runs === 'remote');
  }

  /** The tier chosen here (remembered in Settings as compareTierId), else the first one. */
  private get tier(): CatalogEntry | undefined {
    const key = `remote:${this.settings.settings.compareTierId}`;
    return this.tiers.find((t) => t.key === key) ?? this.tiers[0];
  }

  private get local(): CatalogEntry | undefined {
    const loaded = this.app.entry(this.app.state.loadedKey);
    return loaded?.runs === 'device' && this.app.state.status === 'ready' ? loaded : undefined;
  }

  private get running(): boolean {
    return this.sides.some((s) => s.running);
  }

  private newSide(entry: CatalogEntry): Side {
    const info = entry.runs === 'device' ? this.app.state.loadInfo : null;
    return {
      entry,
      text: '',
      rendered: renderAnswer(''),
      renderer: new StreamingRenderer(),
      live: new LiveMetrics(),
      result: null,
      error: null,
      running: true,
      queued: false,
      bytesOut: 0,
      served: entry.remote ? entry.remote.model : entry.name,
      synthetic: entry.synthetic,
      params: entry.params,
      dtype: info?.dtype ?? null,
      device: info?.device ?? null,
      cpuEngine: info?.engine === 'edgetier-wasm',
    };
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
    this.#request = request;
    this.#stopped = false;
    this.mode = this.atOnce ? 'at-once' : 'sequential';
    const [localSide, tierSide] = [this.newSide(local), this.newSide(tier)];
    this.sides = [localSide, tierSide];
    if (this.mode === 'at-once') {
      await Promise.all([this.runSide(localSide, request), this.runSide(tierSide, request)]);
      return;
    }
    tierSide.queued = true;
    await this.runSide(localSide, request);
    // The local answer is on screen, ended, before the tier's request starts.
    await this.updateComplete;
    if (!this.#stopped) {
      await this.runSide(tierSide, request);
      return;
    }
    tierSide.queued = false;
    tierSide.running = false;
    this.sides = [...this.sides];
  }

  private async runSide(side: Side, request: GenerateRequest): Promise<void> {
    side.queued = false;
    side.running = true;
    this.sides = [...this.sides];
    try {
      // Refused before an engine is made for it: an address that does not parse would throw there.
      const problem = side.entry.remote ? tierUrlProblem(side.entry.remote, location.href) : null;
      if (problem) throw new EdgetierError('bad_request', `${problem} ${TIER_ADVICE}`);
      const engine = this.app.engineFor(side.entry);
      if (side.entry.remote) {
        if (this.#loadedTiers.get(side.entry.key)?.engine !== engine) {
          const info = await engine.load({
            source: { kind: 'hub', id: side.entry.remote.model || '' },
            device: 'wasm',
            dtype: 'fp32',
          });
          this.#loadedTiers.set(side.entry.key, {
            engine,
            model: info.modelId,
            synthetic: info.synthetic,
            params: info.params ?? null,
          });
        }
        const served = this.#loadedTiers.get(side.entry.key)!;
        side.served = served.model;
        side.synthetic = served.synthetic;
        side.params = served.params;
        side.entry = { ...side.entry, remote: { ...side.entry.remote, model: served.model } };
        // Stop pressed while the model list was on its way: the prompt is not sent.
        if (this.#stopped) {
          side.running = false;
          this.sides = [...this.sides];
          return;
        }
        side.bytesOut = this.app.services.remoteRequestBytes(side.entry.remote!.model, request);
      } else {
        await engine.resetConversation();
      }
      side.live.start();
      side.result = await engine.generate(request, (chunk) => {
        if (chunk.promptTokens !== undefined) side.live.prompt(chunk.promptTokens);
        side.text += chunk.text;
        side.live.chunk(chunk.tokens);
        this.scheduleRender();
      });
      // The model the response names is the one that answered: what the list said no longer holds
      // for another one (its twin flag, its size).
      if (side.result.model && side.result.model !== side.served) {
        side.served = side.result.model;
        side.synthetic = false;
        side.params = null;
      }
      side.text = side.result.text;
      side.live.finish(side.result.metrics);
    } catch (error) {
      // Stop ended the tier's model-list request: stopped, not failed.
      if (this.#stopped && isEdgetierError(error) && error.code === 'aborted') {
        side.running = false;
        side.live.finish(null);
        this.sides = [...this.sides];
        return;
      }
      side.error = side.entry.remote
        ? (explainTierError(error, side.entry.remote, location.href, TIER_ADVICE) ?? messageOf(error))
        : messageOf(error);
      side.live.finish(null);
    }
    side.running = false;
    side.rendered = renderAnswer(side.text);
    this.sides = [...this.sides];
  }

  /** Sends the last prompt to the tier again (the local side's answer and figures stay). */
  private async retryTier(): Promise<void> {
    const old = this.sides[1];
    const request = this.#request;
    if (!old || !request || this.running) return;
    const side = this.newSide(this.app.entry(old.entry.key) ?? old.entry);
    this.#stopped = false;
    this.#retrying = true;
    this.sides = [this.sides[0]!, side];
    // Retry leaves the page while the tier is asked again: the focus goes to Stop, not to the page.
    const run = this.runSide(side, request);
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('#stop')?.focus();
    await run;
    this.#retrying = false;
    this.requestUpdate();
    await this.updateComplete;
    // Failed again: the focus goes back to Retry; answered (or stopped): to the table it completed.
    if (side.error) this.renderRoot.querySelector<HTMLButtonElement>('#retry-tier')?.focus();
    else this.renderRoot.querySelector<HTMLElement>('[data-testid="tradeoff-wrap"]')?.focus();
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
    this.#stopped = true;
    const started = this.sides.filter((s) => s.running && !s.queued);
    for (const s of started) s.live.stopping();
    await Promise.all(started.map((s) => this.app.engineFor(s.entry).interrupt()));
  }

  private renderTierError() {
    const side = this.sides[1];
    if (!side?.entry.remote || !side.error || side.running) return nothing;
    return html`<div class="tier-error" role="alert" data-testid="tier-error">
      <p>${side.error}</p>
      <div class="actions">
        <button type="button" id="retry-tier" @click=${this.retryTier}>Retry</button>
        <a href="#settings">Check the tier in Settings</a>
      </div>
    </div>`;
  }

  private renderTable() {
    const local = this.sides[0];
    // A failed local side keeps the table (the tier's figures, the local column marked failed), as
    // a failed tier keeps the local figures.
    if (!local || (!local.result && !local.error) || (this.running && !this.#retrying)) return nothing;
    const tier = this.sides[1]?.entry.remote;
    const shared = tier ? tierOnThisComputer(tier, location.href) : false;
    return renderTradeoff(this.sides, this.mode, shared, location.href);
  }

  private renderAnswerBody(side: Side) {
    if (side.queued) {
      return html`<p class="muted">Waits for ${this.sides[0]?.entry.name} to finish: one after the other, neither slows the other.</p>`;
    }
    if (side.error && side.entry.remote)
      return html`<p class="error">No answer: the message above says why.</p>`;
    if (side.error) return html`<p class="error" role="alert">${side.error}</p>`;
    if (side.result?.finishReason === 'filtered')
      return html`<p class="muted">Cut by the provider's filter: this answer is incomplete.</p>`;
    if (!side.running && !side.result)
      return html`<p class="muted">Not run: Stop was pressed before it answered.</p>`;
    return nothing;
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
      }${this.renderAnswerBody(side)}</div>
      <et-metrics-panel .live=${side.live}></et-metrics-panel>
    </section>`;
  }

  override render() {
    if (!this.app) return nothing;
    const local = this.local;
    const tiers = this.tiers;
    const tier = this.tier;
    const shared = tier?.remote ? tierOnThisComputer(tier.remote, location.href) : false;
    return html`
      <h1>Compare</h1>
      <p class="intro">One prompt, two places: the model in this tab and a remote tier, then what each costs you.</p>
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
            <select id="tier" ?disabled=${this.running} @change=${(e: Event) =>
              this.settings.update({
                compareTierId: (e.target as HTMLSelectElement).value.replace(/^remote:/, ''),
              })}>
              ${tiers.map(
                (t) =>
                  html`<option value=${t.key} ?selected=${t.key === tier?.key}>${t.name}${
                    t.synthetic ? ' · synthetic twin (random weights)' : ''
                  }</option>`,
              )}
            </select>
            <label class="check">
              <input type="checkbox" id="at-once" aria-describedby="at-once-hint" .checked=${this.atOnce}
                ?disabled=${this.running}
                @change=${(e: Event) => (this.atOnce = (e.target as HTMLInputElement).checked)} />
              Run both at once
            </label>
          </div>
          <p class="hint" id="at-once-hint">${
            shared
              ? 'One after the other by default. At once, both share this computer (the tier runs here too), so each runs slower.'
              : 'One after the other by default. At once, both share this device’s network and page.'
          }</p>
        </div>
        ${
          this.running
            ? html`<button type="button" id="stop" class="danger" @click=${this.stop}>Stop</button>`
            : html`<button type="submit" class="primary" ?disabled=${!local || tiers.length === 0}>Compare</button>`
        }
      </form>
      ${this.renderTierError()}
      ${this.renderTable()}
      ${this.sides.length > 0 ? html`<div class="panes">${this.sides.map((s) => this.renderSide(s))}</div>` : nothing}
    `;
  }
}

customElements.define('et-compare-view', EtCompareView);

declare global {
  interface HTMLElementTagNameMap {
    'et-compare-view': EtCompareView;
  }
}
