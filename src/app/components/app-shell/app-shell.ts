/**
 * The app shell: header (brand, views, the model picker, the fully-local indicator), the load
 * progress strip, and the current view, chosen by the URL hash (#chat, #models, #compare, #bench,
 * #settings) so views can be linked and the back button works.
 */
import { html, LitElement, nothing } from 'lit';
import {
  type CatalogEntry,
  estimateDownloadBytes,
  formatBytes,
  formatParams,
} from '../../../core/catalog.ts';
import { settingsForSite } from '../../services/site-config.ts';
import type { AppServices } from '../../services.ts';
import { AppState } from '../../state/app-state.ts';
import { ConversationStore } from '../../state/conversation-store.ts';
import type { NetworkScope } from '../../state/network-monitor.ts';
import { DEFAULT_SETTINGS, SettingsStore } from '../../state/settings-store.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { appShellStyles } from './app-shell.styles.ts';
import '../chat-view/chat-view.ts';
import '../models-view/models-view.ts';
import '../compare-view/compare-view.ts';
import '../bench-view/bench-view.ts';
import '../settings-view/settings-view.ts';
import '../download-progress/download-progress.ts';

export const VIEWS = ['chat', 'models', 'compare', 'bench', 'settings'] as const;
export type ViewName = (typeof VIEWS)[number];
const VIEW_LABEL: Record<ViewName, string> = {
  chat: 'Chat',
  models: 'Models',
  compare: 'Compare',
  bench: 'Bench',
  settings: 'Settings',
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The view whose requests the privacy badge counts. */
const scopeOf = (view: ViewName): NetworkScope =>
  view === 'chat' ? 'chat' : view === 'compare' ? 'compare' : 'other';

const viewFromHash = (): ViewName => {
  const name = location.hash.replace(/^#\/?/, '');
  return (VIEWS as readonly string[]).includes(name) ? (name as ViewName) : 'chat';
};

/**
 * @csspart header - the top bar
 */
export class EtApp extends LitElement {
  static override styles = [sharedStyles, appShellStyles];
  static override properties = { view: { state: true }, pendingKey: { state: true } };

  declare view: ViewName;
  /** A model the visitor moved to in the Model menu with the keyboard but has not confirmed yet. */
  declare pendingKey: string | null;
  /** The menu's last change came from a key that only moves (an arrow, a letter): not a choice. */
  #moving = false;
  readonly settings: SettingsStore;
  readonly app: AppState;
  readonly conversations: ConversationStore;
  readonly #onHash = () => {
    this.view = viewFromHash();
  };

  constructor(services: AppServices) {
    super();
    this.view = viewFromHash();
    this.pendingKey = null;
    const defaults = services.site ? settingsForSite(services.site, DEFAULT_SETTINGS) : DEFAULT_SETTINGS;
    this.settings = new SettingsStore(undefined, defaults, services.site ? defaults.tiers : null);
    this.app = new AppState(services, this.settings);
    this.conversations = new ConversationStore();
    new StoreController(this, this.app, this.app.network, this.settings);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('hashchange', this.#onHash);
    void this.app.init();
  }

  override disconnectedCallback(): void {
    removeEventListener('hashchange', this.#onHash);
    super.disconnectedCallback();
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('view')) this.app.network.setScope(scopeOf(this.view));
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('view')) document.title = `${VIEW_LABEL[this.view]} · edgetier`;
    // The menu shows the pending choice, else the chosen model, else none (never a failed one).
    const menu = this.renderRoot.querySelector<HTMLSelectElement>('#model');
    if (menu) menu.value = this.pending ?? this.app.state.selectedKey ?? '';
  }

  /**
   * A change from a click in the open menu (or a pick by a script) loads at once; one from an arrow
   * or a letter on the closed menu only moves it, since Chromium fires change on every such key:
   * Enter or the Load button confirms it.
   */
  private onModelChange(event: Event): void {
    const key = (event.target as HTMLSelectElement).value;
    if (!key) return;
    if (this.#moving) {
      this.pendingKey = key === this.app.state.selectedKey ? null : key;
      return;
    }
    this.pendingKey = null;
    void this.app.select(key);
  }

  private onModelKey(event: KeyboardEvent): void {
    if (event.key === 'Enter') {
      event.preventDefault();
      this.#moving = false;
      this.confirmPending();
    } else if (event.key !== 'Tab' && event.key !== 'Escape' && event.key !== ' ') {
      this.#moving = true;
    }
  }

  /** A choice shown in the menu but not loaded: moved to with the keys, or offered back from a past visit. */
  private get pending(): string | null {
    return this.pendingKey ?? (this.app.state.selectedKey === null ? this.app.state.offeredKey : null);
  }

  private confirmPending(): void {
    const key = this.pending;
    if (key === null) return;
    this.pendingKey = null;
    void this.app.select(key);
  }

  /** The Load button's words: a Hub model not in the browser cache is a download, and says how much. */
  private loadLabel(entry: CatalogEntry): string {
    const dtype = this.app.dtypeFor(entry);
    if (entry.origin !== 'builtin' || this.app.isCached(entry, dtype)) return `Load ${entry.name}`;
    const bytes = estimateDownloadBytes(entry, dtype);
    const size =
      bytes === null
        ? 'size unknown'
        : `${entry.downloadBytes[dtype] === undefined ? '≈ ' : ''}${formatBytes(bytes)}`;
    return `Download and load ${entry.name} (${size})`;
  }

  private renderPicker() {
    const { catalog } = this.app.state;
    const selectedKey = this.pending ?? this.app.state.selectedKey;
    const pending = this.app.entry(this.pending);
    const groups: [string, typeof catalog][] = [
      ['Local folders (this server)', catalog.filter((e) => e.origin === 'server')],
      ['On this device (Hugging Face Hub)', catalog.filter((e) => e.origin === 'builtin')],
      ['Remote tiers', catalog.filter((e) => e.runs === 'remote')],
    ];
    return html`<div class="model-picker">
      <label for="model">Model</label>
      <select
        id="model"
        @change=${this.onModelChange}
        @keydown=${this.onModelKey}
        @pointerdown=${() => (this.#moving = false)}
      >
        <option value="" ?selected=${selectedKey === null} disabled>Choose a model…</option>
        ${groups.map(([label, entries]) =>
          entries.length === 0
            ? nothing
            : html`<optgroup label=${label}>
                ${entries.map(
                  (e) =>
                    html`<option value=${e.key} ?selected=${e.key === selectedKey}>
                      ${e.name}${e.params ? ` · ${formatParams(e.params)}` : ''}${e.synthetic ? ' · synthetic twin' : ''}
                    </option>`,
                )}
              </optgroup>`,
        )}
      </select>
      ${
        pending
          ? html`<button type="button" class="primary" @click=${this.confirmPending}>${this.loadLabel(pending)}</button>`
          : nothing
      }
    </div>`;
  }

  private renderStatus() {
    const { status, loadedKey } = this.app.state;
    const loaded = this.app.entry(loadedKey);
    if (status === 'loading') return html`<span class="badge" role="status">Loading…</span>`;
    if (!loaded) return html`<span class="badge">No model loaded</span>`;
    const compare = this.app.network.count('compare');
    // Compare calls a remote tier on purpose: its requests are shown there, never charged to the chat.
    if (this.view === 'compare' && compare.requests > 0) {
      return html`<span class="badge bad" title=${`Sent by Compare to ${compare.origins.join(', ')}`}
        >${plural(compare.requests, 'request')} from Compare</span
      >`;
    }
    if (loaded.runs === 'remote') return html`<span class="badge">Remote: data leaves this device</span>`;
    const chat = this.app.network.count('chat');
    return this.app.network.fullyLocal
      ? html`<span class="badge ok" title="No request has left this page from the Chat view since the model loaded"
          >Fully local</span
        >`
      : html`<span class="badge bad" title=${`Sent from the Chat view to ${chat.origins.join(', ')}`}
          >${plural(chat.requests, 'request')} since load</span
        >`;
  }

  private renderView() {
    switch (this.view) {
      case 'chat':
        return html`<et-chat-view .app=${this.app} .settings=${this.settings} .store=${this.conversations}></et-chat-view>`;
      case 'models':
        return html`<et-models-view .app=${this.app}></et-models-view>`;
      case 'compare':
        return html`<et-compare-view .app=${this.app} .settings=${this.settings}></et-compare-view>`;
      case 'bench':
        return html`<et-bench-view .app=${this.app}></et-bench-view>`;
      case 'settings':
        return html`<et-settings-view .app=${this.app} .settings=${this.settings} .store=${this.conversations}></et-settings-view>`;
    }
  }

  override render() {
    const { status, progress, error, notice } = this.app.state;
    const selected = this.app.selected;
    return html`
      <header part="header">
        <a class="brand" href="#chat" aria-label="edgetier home">
          <svg viewBox="0 0 24 24" aria-hidden="true"><path fill="var(--accent)" d="M3 18h4v3H3zM9 13h4v8H9zM15 7h4v14h-4z"/></svg>
          edgetier
        </a>
        <nav aria-label="Views">
          <ul>
            ${VIEWS.map(
              (v) =>
                html`<li><a href="#${v}" aria-current=${v === this.view ? 'page' : 'false'}>${VIEW_LABEL[v]}</a></li>`,
            )}
          </ul>
        </nav>
        ${this.renderPicker()}
        <div class="status" aria-live="polite">${this.renderStatus()}</div>
      </header>
      ${
        status === 'loading'
          ? html`<div class="loading-bar">
              <et-download-progress .progress=${progress} .label=${selected ? `Loading ${selected.name}` : 'Loading'}></et-download-progress>
            </div>`
          : nothing
      }
      ${
        error
          ? // A long message scrolls on its own (focusable, for keyboards); Retry stays in view. No
            // whitespace around the message: the alert's text is the message itself.
            html`<div class="banner error" role="alert"><span class="message" tabindex="0">${error}</span>${
              this.app.state.failedKey
                ? html`<button type="button" @click=${() => this.app.retry()}>Retry</button>`
                : nothing
            }</div>`
          : nothing
      }
      ${notice ? html`<p class="banner notice" role="status">${notice}</p>` : nothing}
      <main id="main">${this.renderView()}</main>
    `;
  }
}

customElements.define('et-app', EtApp);

declare global {
  interface HTMLElementTagNameMap {
    'et-app': EtApp;
  }
}
