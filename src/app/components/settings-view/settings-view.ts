/**
 * Settings: remote tiers (name, base URL, model, optional key, price) with "Test connection",
 * sampling defaults, backend override and CPU engine, and the data this browser keeps. A key stays in this tab's
 * memory unless "remember" is ticked for its tier; this server's own tier needs none (the server
 * keeps its upstream key, which never reaches the page).
 */
import { html, LitElement, nothing } from 'lit';
import { formatParams, type RemoteTier, tierDisplayName } from '../../../core/catalog.ts';
import type { CpuRuntimeChoice } from '../../../core/engine.ts';
import { isEdgetierError } from '../../../core/errors.ts';
import { type AppState, messageOf, TEST_CONNECTION_TIMEOUT_MS } from '../../state/app-state.ts';
import type { ConversationStore } from '../../state/conversation-store.ts';
import type { BackendOverride, SettingsStore, TierSettings } from '../../state/settings-store.ts';
import { StoreController } from '../../state/store.ts';
import { explainTierError, keyForAddress, tierUrl, tierUrlProblem } from '../../state/tier-errors.ts';
import { sharedStyles, viewPageStyles } from '../../styles/shared.styles.ts';
import { cpuEnginePickedLine } from './cpu-engine-picked.ts';
import { settingsViewStyles } from './settings-view.styles.ts';

const TIER_PRESETS: Omit<TierSettings, 'id'>[] = [
  {
    name: 'Fast tier',
    baseUrl: '',
    model: '',
    priceInPerMTok: 0.05,
    priceOutPerMTok: 0.2,
    rememberKey: false,
  },
  {
    name: 'Standard tier',
    baseUrl: '',
    model: '',
    priceInPerMTok: 0.4,
    priceOutPerMTok: 1.6,
    rememberKey: false,
  },
  {
    name: 'Deep-reasoning tier',
    baseUrl: '',
    model: '',
    priceInPerMTok: 2,
    priceOutPerMTok: 8,
    rememberKey: false,
  },
];

interface TierCheck {
  /** 'note': what Save did that the visitor should know (not a connection check). */
  state: 'running' | 'ok' | 'failed' | 'note';
  text: string;
}

export class EtSettingsView extends LitElement {
  static override styles = [sharedStyles, viewPageStyles, settingsViewStyles];
  static override properties = {
    app: { attribute: false },
    settings: { attribute: false },
    store: { attribute: false },
    notice: { state: true },
    checks: { state: true },
  };

  declare app: AppState;
  declare settings: SettingsStore;
  declare store: ConversationStore;
  declare notice: string;
  /** "Test connection" per tier id: running, or what it found. */
  declare checks: Record<string, TierCheck>;
  #subscribed = false;
  /** Tier ids whose key field the visitor has typed in since it was last saved. */
  #keyTyped = new Set<string>();
  /** "Test connection" requests in flight, by tier id: Cancel (or Esc) aborts one. */
  #testing = new Map<string, AbortController>();

  constructor() {
    super();
    this.notice = '';
    this.checks = {};
  }

  /**
   * Esc stops a running "Test connection" wherever the focus is (its status line says "Esc or
   * Cancel"): inside a tier's form, that tier's own (its form handles it first); elsewhere, all.
   */
  readonly #onKey = (event: KeyboardEvent) => {
    if (event.key !== 'Escape' || event.defaultPrevented || this.#testing.size === 0) return;
    event.preventDefault();
    for (const tier of this.settings.settings.tiers) if (this.#testing.has(tier.id)) this.cancelTest(tier);
  };

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('keydown', this.#onKey);
  }

  override disconnectedCallback(): void {
    removeEventListener('keydown', this.#onKey);
    super.disconnectedCallback();
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('settings') && this.settings && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.settings, ...(this.app ? [this.app] : [])).hostConnected();
      void this.app?.describeTiers();
    }
  }

  /** The tier as its form now reads (saved or not), and the key typed for it. */
  private fromForm(form: HTMLFormElement, tier: TierSettings): { tier: TierSettings; key: string } {
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const price = (name: string) => Math.max(0, Number(text(name)) || 0);
    return {
      tier: {
        ...tier,
        name: text('name') || tier.name,
        baseUrl: text('baseUrl').replace(/\/+$/, ''),
        model: text('model'),
        priceInPerMTok: price('priceIn'),
        priceOutPerMTok: price('priceOut'),
        rememberKey: data.get('remember') === 'on',
      },
      key: text('key'),
    };
  }

  private saveTier(event: SubmitEvent, tier: TierSettings): void {
    event.preventDefault();
    const { tier: saved, key } = this.fromForm(event.target as HTMLFormElement, tier);
    // Refused by name rather than stored: a password in the address would sit in storage in clear.
    const problem = tierUrlProblem(saved, location.href);
    if (problem) {
      this.notice = `Not saved. ${problem}`;
      return;
    }
    // The saved key, left in its field untouched, is not carried to an address on another origin:
    // Compare and Chat would send it there.
    const { key: kept, withheld } = keyForAddress(
      tier,
      this.settings.keyFor(tier.id),
      saved,
      key,
      this.#keyTyped.has(tier.id),
      location.href,
    );
    this.settings.upsertTier(saved, kept);
    this.#keyTyped.delete(tier.id);
    this.notice = `Saved ${saved.name}.`;
    if (withheld) {
      // Said next to the form it concerns, in its status line.
      this.checks = {
        ...this.checks,
        [tier.id]: {
          state: 'note',
          text: 'The saved key was not kept for the new address; type it again to use it there.',
        },
      };
    }
  }

  /** Asks the tier, as the form reads now, which model it serves (GET /v1/models). */
  private async testTier(event: Event, tier: TierSettings): Promise<void> {
    const form = (event.target as HTMLElement).closest('form');
    if (!form || this.checks[tier.id]?.state === 'running') return;
    const { tier: typed, key: typedKey } = this.fromForm(form, tier);
    const remote: RemoteTier = typed;
    const problem = tierUrlProblem(remote, location.href);
    if (problem) {
      this.checks = { ...this.checks, [tier.id]: { state: 'failed', text: problem } };
      return;
    }
    // The key field shows the saved key: it goes only to the address it was saved for. Against an
    // unsaved address of another origin it is left out, unless typed again.
    const { key, withheld, savedOrigin } = keyForAddress(
      tier,
      this.settings.keyFor(tier.id),
      remote,
      typedKey,
      this.#keyTyped.has(tier.id),
      location.href,
    );
    const withheldNote = withheld
      ? ` The saved key was not sent to this new address (it was saved for ${savedOrigin ?? 'another address'}): type it again to test with it.`
      : '';
    this.checks = {
      ...this.checks,
      [tier.id]: { state: 'running', text: 'Testing the connection… (Esc or Cancel to stop)' },
    };
    const controller = new AbortController();
    this.#testing.set(tier.id, controller);
    let check: TierCheck;
    try {
      const info = await this.app.checkTier(remote, key || null, controller.signal);
      const url = tierUrl(remote, location.href);
      const twin = info.synthetic
        ? ` It is a synthetic twin${info.mirrors && !info.mirrors.startsWith('none') ? ` of ${info.mirrors}` : ''}: random weights, so its answers are noise.`
        : '';
      const size = info.params ? ` (${formatParams(info.params)} parameters)` : '';
      check = {
        state: 'ok',
        text: `Connected: ${url.origin}${url.pathname.replace(/\/+$/, '')} serves ${info.modelId.replace(/[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g, '')}${size}.${twin}${withheldNote}`,
      };
    } catch (error) {
      if (controller.signal.aborted) return; // Cancel already said so
      const url = tierUrlProblem(remote, location.href) ? null : tierUrl(remote, location.href);
      check = {
        state: 'failed',
        text:
          (isEdgetierError(error) && error.code === 'timeout' && url
            ? `Timed out: GET ${url.origin}${url.pathname.replace(/\/+$/, '')}/models (the model list) got no answer within ${TEST_CONNECTION_TIMEOUT_MS / 1000} s. Something at ${url.host} took the connection but did not answer: check that the base URL points at an OpenAI-compatible server (it usually ends in /v1) and that it is running, then Test connection again.`
            : (explainTierError(
                error,
                remote,
                location.href,
                'Correct the fields above, then Test connection again.',
              ) ?? messageOf(error))) + withheldNote,
      };
    } finally {
      if (this.#testing.get(tier.id) === controller) this.#testing.delete(tier.id);
    }
    // The answer removes the Cancel button: a visitor on it keeps a place (Test connection), not
    // the top of the document.
    const onCancel = (this.renderRoot as ShadowRoot).activeElement?.id === `cancel-${tier.id}`;
    this.checks = { ...this.checks, [tier.id]: check };
    if (onCancel) this.focusTest(tier);
  }

  private focusTest(tier: TierSettings): void {
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector<HTMLButtonElement>(`#test-${CSS.escape(tier.id)}`)?.focus(),
    );
  }

  /** Ends a "Test connection" at once: its request is aborted and its answer, if any, ignored. */
  private cancelTest(tier: TierSettings): void {
    const controller = this.#testing.get(tier.id);
    if (!controller) return;
    this.#testing.delete(tier.id);
    controller.abort();
    const onCancel = (this.renderRoot as ShadowRoot).activeElement?.id === `cancel-${tier.id}`;
    this.checks = { ...this.checks, [tier.id]: { state: 'note', text: 'Cancelled.' } };
    // The Cancel button goes away: a focus on it goes back to the button that started the test
    // (a focus elsewhere, Esc pressed in another field, stays there).
    if (onCancel) this.focusTest(tier);
  }

  private addTier(preset: Omit<TierSettings, 'id'>): void {
    this.settings.upsertTier({ ...preset, id: crypto.randomUUID().slice(0, 8) });
  }

  /** The tier's name, and what it serves once its server said (a twin marked as one). */
  private tierLegend(tier: TierSettings) {
    const served = this.app?.state.served[`remote:${tier.id}`];
    return html`<bdi>${tierDisplayName(tier, served)}</bdi>${
      served?.synthetic ? html` <span class="badge synthetic">Synthetic twin: random weights</span>` : nothing
    }`;
  }

  private renderTier(tier: TierSettings) {
    const id = (name: string) => `${name}-${tier.id}`;
    const check = this.checks[tier.id];
    return html`<form @submit=${(e: SubmitEvent) => this.saveTier(e, tier)}
      @keydown=${(e: KeyboardEvent) => {
        if (e.key === 'Escape' && check?.state === 'running') {
          e.preventDefault();
          this.cancelTest(tier);
        }
      }}>
      <fieldset>
        <legend>${this.tierLegend(tier)}</legend>
        <div class="fields">
          <div class="field"><label for=${id('name')}>Name</label><input id=${id('name')} name="name" .value=${tier.name} required /></div>
          <div class="field">
            <label for=${id('baseUrl')}>Base URL</label>
            <input id=${id('baseUrl')} name="baseUrl" type="url" placeholder="this server (/v1)" .value=${tier.baseUrl} />
          </div>
          <div class="field"><label for=${id('model')}>Model</label><input id=${id('model')} name="model" placeholder="server default" .value=${tier.model} /></div>
          <div class="field">
            <label for=${id('key')}>API key (optional)</label>
            <input id=${id('key')} name="key" type="password" autocomplete="off" .value=${this.settings.keyFor(tier.id) ?? ''}
              @input=${() => this.#keyTyped.add(tier.id)} />
          </div>
          <div class="field">
            <label for=${id('priceIn')}>$ per M input tokens</label>
            <input id=${id('priceIn')} name="priceIn" type="number" min="0" step="0.01" .value=${String(tier.priceInPerMTok)} />
          </div>
          <div class="field">
            <label for=${id('priceOut')}>$ per M output tokens</label>
            <input id=${id('priceOut')} name="priceOut" type="number" min="0" step="0.01" .value=${String(tier.priceOutPerMTok)} />
          </div>
        </div>
        <label class="check"><input type="checkbox" name="remember" ?checked=${tier.rememberKey} /> Remember the key in this browser (stored unencrypted)</label>
        <p class="hint">Remembered, the key is stored unencrypted in this browser's storage for ${location.origin}: anyone who can use this browser profile, or its files, can read it, and so can every page served from that origin (on a shared host such as a github.io user site, other projects' pages too). Without "remember", it lives only in this tab's memory. Behind edgetier serve, leave the key empty: the server holds it.</p>
        <div class="actions">
          <button type="submit" class="primary">Save tier</button>
          <button type="button" id=${id('test')} @click=${(e: Event) => void this.testTier(e, tier)}>Test connection</button>
          ${
            check?.state === 'running'
              ? html`<button type="button" id=${id('cancel')} @click=${() => this.cancelTest(tier)}>Cancel</button>`
              : nothing
          }
          <button type="button" class="danger" aria-label=${`Remove ${tier.name}`} @click=${() => this.settings.removeTier(tier.id)}>Remove</button>
        </div>
        <p class="check-result ${check?.state ?? ''}" role="status" data-testid="tier-check">${
          check ? check.text : nothing
        }</p>
      </fieldset>
    </form>`;
  }

  override render() {
    if (!this.settings) return html``;
    const s = this.settings.settings;
    const num = (e: Event) => Number((e.target as HTMLInputElement).value);
    return html`<div class="wrap">
      <h1>Settings</h1>
      <p role="status" class="hint">${this.notice}</p>
      <h2>Remote tiers</h2>
      ${s.tiers.map((t) => this.renderTier(t))}
      <div class="actions">
        ${TIER_PRESETS.map((p) => html`<button @click=${() => this.addTier(p)}>Add ${p.name.toLowerCase()}</button>`)}
      </div>
      <h2>Sampling defaults</h2>
      <fieldset>
        <legend>Sampling</legend>
        <div class="fields">
          <div class="field">
            <label for="temperature">Temperature (0 = greedy)</label>
            <input id="temperature" type="number" min="0" max="2" step="0.1" .value=${String(s.sampling.temperature)}
              aria-describedby="temperature-hint"
              @change=${(e: Event) => this.settings.update({ sampling: { ...s.sampling, temperature: num(e) } })} />
            <p class="hint" id="temperature-hint">
              How much the answer varies: 0 always gives the same, most likely answer (greedy); 0.7, the
              default, varies the wording, so Regenerate gives a new answer. Bench always runs greedy.
            </p>
          </div>
          <div class="field">
            <label for="topP">Top-p</label>
            <input id="topP" type="number" min="0" max="1" step="0.05" .value=${String(s.sampling.topP)}
              @change=${(e: Event) => this.settings.update({ sampling: { ...s.sampling, topP: num(e) } })} />
          </div>
          <div class="field">
            <label for="maxNewTokens">Max new tokens</label>
            <input id="maxNewTokens" type="number" min="1" max="8192" step="1" .value=${String(s.sampling.maxNewTokens)}
              @change=${(e: Event) => this.settings.update({ sampling: { ...s.sampling, maxNewTokens: Math.max(1, Math.round(num(e))) } })} />
          </div>
        </div>
        <label class="check"><input type="checkbox" ?checked=${s.enableThinking}
          @change=${(e: Event) => this.settings.update({ enableThinking: (e.target as HTMLInputElement).checked })} />
          Let reasoning models think before answering</label>
      </fieldset>
      <h2>Backend</h2>
      <fieldset>
        <legend>On-device backend</legend>
        <div class="field">
          <label for="backend">Backend</label>
          <select id="backend" @change=${(e: Event) => this.settings.update({ backend: (e.target as HTMLSelectElement).value as BackendOverride })}>
            <option value="auto" ?selected=${s.backend === 'auto'}>Automatic (WebGPU when it fits, else WASM)</option>
            <option value="webgpu" ?selected=${s.backend === 'webgpu'}>WebGPU</option>
            <option value="wasm" ?selected=${s.backend === 'wasm'}>WASM (CPU)</option>
          </select>
        </div>
        <div class="field">
          <label for="cpuEngine">CPU engine</label>
          <select id="cpuEngine" aria-describedby="cpu-engine-hint cpu-engine-picked" @change=${(e: Event) => this.settings.update({ cpuEngine: (e.target as HTMLSelectElement).value as CpuRuntimeChoice })}>
            <option value="auto" ?selected=${s.cpuEngine === 'auto'}>Automatic (measured fastest)</option>
            <option value="onnxruntime" ?selected=${s.cpuEngine === 'onnxruntime'}>ONNX Runtime</option>
            <option value="edgetier" ?selected=${s.cpuEngine === 'edgetier'}>edgetier's CPU engine</option>
          </select>
        </div>
        <p class="hint" id="cpu-engine-hint">The CPU engine runs models on WASM. Automatic picks edgetier's own for q8 and q4 models, where it was measured to decode 2-3x faster than ONNX Runtime, and ONNX Runtime for the rest; edgetier's runs fp32, q8 and q4 models that edgetier converted, and for any other ONNX Runtime runs it and the app says why.</p>
        ${this.renderPicked()}
        <p class="hint">Applies the next time a model loads.</p>
      </fieldset>
      <h2>Your data</h2>
      <div class="actions">
        <button class="danger" @click=${async () => {
          await this.store.clear();
          this.notice = 'All conversations deleted from this browser.';
        }}>Delete all conversations</button>
      </div>
    </div>`;
  }

  /** What the CPU engine setting picked for the loaded on-device model, and why. */
  private renderPicked() {
    const line = cpuEnginePickedLine(this.app?.state.loadInfo ?? null);
    if (line === null) return nothing;
    return html`<p class="hint" id="cpu-engine-picked" data-testid="cpu-engine-picked">${line}</p>`;
  }
}

customElements.define('et-settings-view', EtSettingsView);

declare global {
  interface HTMLElementTagNameMap {
    'et-settings-view': EtSettingsView;
  }
}
