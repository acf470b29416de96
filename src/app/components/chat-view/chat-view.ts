/**
 * The chat: saved conversations on the side, the messages, live metrics and the message box.
 * Streamed text is applied once per animation frame (not once per chunk), so the page stays
 * responsive; finished sentences are announced politely to screen readers.
 */
import { html, LitElement, nothing } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { repeat } from 'lit/directives/repeat.js';
import { estimateDownloadBytes, formatBytes } from '../../../core/catalog.ts';
import type { ChatMessage, GenerateResult } from '../../../core/engine.ts';
import { type AppState, messageOf } from '../../state/app-state.ts';
import {
  type Conversation,
  type ConversationStore,
  newId,
  type StoredMessage,
  titleFrom,
  writerOf,
} from '../../state/conversation-store.ts';
import { LiveMetrics } from '../../state/live-metrics.ts';
import type { SettingsStore } from '../../state/settings-store.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import type { EtComposer } from '../composer/composer.ts';
import { chatViewStyles } from './chat-view.styles.ts';
import '../chat-message/chat-message.ts';
import '../composer/composer.ts';
import '../metrics-panel/metrics-panel.ts';

/** Announce at most this often while streaming, in whole sentences. */
const ANNOUNCE_EVERY_MS = 2000;
/** The most one announcement reads out. */
const MAX_ANNOUNCED_CHARS = 600;

export class EtChatView extends LitElement {
  static override styles = [sharedStyles, chatViewStyles];
  static override properties = {
    app: { attribute: false },
    settings: { attribute: false },
    store: { attribute: false },
    conversations: { state: true },
    current: { state: true },
    streamingId: { state: true },
    sidebarOpen: { state: true },
    announcement: { state: true },
    awayFromLatest: { state: true },
    stopping: { state: true },
  };

  declare app: AppState;
  declare settings: SettingsStore;
  declare store: ConversationStore;
  declare conversations: Conversation[];
  declare current: Conversation | null;
  declare streamingId: string | null;
  declare sidebarOpen: boolean;
  declare announcement: string;
  /** The visitor scrolled up from the latest turn: the view stops following and offers a jump back. */
  declare awayFromLatest: boolean;
  /** Stop was pressed; the engine has not ended the answer yet. */
  declare stopping: boolean;
  readonly live = new LiveMetrics();
  #subscribed = false;
  #renderTimer: ReturnType<typeof setTimeout> | 0 = 0;
  #pendingRender: (() => void) | null = null;
  #announcedUpTo = 0;
  #lastAnnounceMs = 0;
  /** Keep the latest turn in view (set on send and on open; cleared when the visitor scrolls up). */
  #follow = true;
  /** Where the view last scrolled itself to while following. */
  #autoScrollTop = 0;
  #scrollFrame = 0;
  #lastStatus = '';
  readonly #onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape' && this.sidebarOpen) {
      event.preventDefault();
      this.closeSidebar();
    } else if (event.key === 'Escape' && this.streamingId) {
      event.preventDefault();
      void this.stop();
    }
  };

  constructor() {
    super();
    this.conversations = [];
    this.current = null;
    this.streamingId = null;
    this.sidebarOpen = false;
    this.announcement = '';
    this.awayFromLatest = false;
    this.stopping = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('keydown', this.#onKey);
  }

  override disconnectedCallback(): void {
    removeEventListener('keydown', this.#onKey);
    super.disconnectedCallback();
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('app') && this.app && !this.#subscribed) {
      this.#subscribed = true;
      new StoreController(this, this.app).hostConnected();
      void this.reloadList();
      this.#lastStatus = this.app.state.status;
    }
    if (this.app) this.focusAfterLoad();
  }

  /**
   * When a load ends ready, the message box takes the focus, unless the visitor has moved on to
   * something else: only from the page, the Model menu, its Load button or the error banner's Retry.
   */
  private focusAfterLoad(): void {
    const status = this.app.state.status;
    const loaded = this.#lastStatus === 'loading' && status === 'ready';
    this.#lastStatus = status;
    if (!loaded) return;
    let active = document.activeElement;
    while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
    if (!active || active === document.body || active.closest('.model-picker, .banner')) {
      void this.updateComplete.then(() => this.composer?.focus());
    }
  }

  private async reloadList(): Promise<void> {
    try {
      this.conversations = await this.store.list();
    } catch {
      this.conversations = [];
    }
  }

  /** Closes the conversation overlay (narrow screens), the focus back on its toggle. */
  private async closeSidebar(): Promise<void> {
    this.sidebarOpen = false;
    await this.updateComplete;
    this.renderRoot
      .querySelector<HTMLButtonElement>('.toolbar button[aria-controls="conversations"]')
      ?.focus();
  }

  private get busy(): boolean {
    return this.streamingId !== null;
  }

  private async newConversation(): Promise<void> {
    if (this.busy) await this.stop();
    this.current = null;
    this.sidebarOpen = false;
    await this.resetEngine();
    this.composer?.focus();
  }

  private async open(id: string): Promise<void> {
    if (this.busy) await this.stop();
    this.current = (await this.store.get(id)) ?? null;
    this.sidebarOpen = false;
    this.followLatest(); // a reopened conversation opens at its latest turn
    await this.resetEngine();
  }

  private async deleteConversation(conversation: Conversation): Promise<void> {
    await this.store.delete(conversation.id);
    if (this.current?.id === conversation.id) this.current = null;
    await this.reloadList();
  }

  private async resetEngine(): Promise<void> {
    const entry = this.app.entry(this.app.state.loadedKey);
    if (entry)
      await this.app
        .engineFor(entry)
        .resetConversation()
        .catch(() => undefined);
  }

  private get composer(): EtComposer | null {
    return this.renderRoot.querySelector('et-composer');
  }

  private async send(text: string): Promise<void> {
    const now = Date.now();
    const conversation: Conversation = this.current ?? {
      id: newId(),
      title: titleFrom(text),
      createdAt: now,
      updatedAt: now,
      messages: [],
    };
    conversation.messages = [...conversation.messages, { id: newId(), role: 'user', content: text }];
    this.current = { ...conversation };
    await this.answer();
  }

  private async onEdit(event: CustomEvent<{ id: string; text: string }>): Promise<void> {
    if (!this.current || this.busy) return;
    const index = this.current.messages.findIndex((m) => m.id === event.detail.id);
    if (index < 0) return;
    const edited: StoredMessage = { ...this.current.messages[index]!, content: event.detail.text };
    this.current = {
      ...this.current,
      // Editing the first question renames the conversation after it.
      ...(index === 0 ? { title: titleFrom(edited.content) } : {}),
      messages: [...this.current.messages.slice(0, index), edited],
    };
    this.composer?.focus(); // the editor closed with its box: the focus goes to the message box
    await this.answer({ reset: true });
  }

  private async onRegenerate(event: CustomEvent<{ id: string }>): Promise<void> {
    if (!this.current || this.busy) return;
    const index = this.current.messages.findIndex((m) => m.id === event.detail.id);
    if (index < 0) return;
    this.current = { ...this.current, messages: this.current.messages.slice(0, index) };
    // The pressed button goes with the old answer: the focus goes to the message box (Esc stops).
    this.composer?.focus();
    await this.answer({ reset: true });
  }

  /**
   * Answers the conversation's last question with the loaded model, streaming. `reset` first drops
   * the engine's cached conversation (after an edit or a regenerate the history changed); it runs
   * once the view already shows the answer as started, so the controls never flicker back.
   */
  private async answer({ reset = false } = {}): Promise<void> {
    const entry = this.app.entry(this.app.state.loadedKey);
    const conversation = this.current;
    if (!entry || !conversation || this.app.state.status !== 'ready') return;
    const engine = this.app.engineFor(entry);
    const history: ChatMessage[] = conversation.messages
      .filter((m) => !m.error)
      .map((m) => ({ role: m.role, content: m.content }));
    let assistant: StoredMessage = {
      id: newId(),
      role: 'assistant',
      content: '',
      modelName: entry.name,
      modelKey: entry.key,
      local: entry.runs === 'device',
    };
    conversation.modelKey = entry.key;
    conversation.modelName = entry.name;
    const put = (message: StoredMessage) => {
      assistant = message;
      const messages = [...conversation.messages.filter((m) => m.id !== message.id), message];
      conversation.messages = messages;
      this.current = { ...conversation };
    };
    this.followLatest(); // the new turn comes into view, wherever the visitor had scrolled
    put(assistant);
    this.streamingId = assistant.id;
    this.#announcedUpTo = 0;
    // Not awaited: the engine runs the reset, then the answer, in order; submitting the answer now
    // lets a Stop pressed during the reset end it (an interrupt ends what was submitted before it).
    if (reset) void engine.resetConversation().catch(() => undefined);
    this.live.start();
    let text = '';
    let reasoning = '';
    let result: GenerateResult | null = null;
    const { sampling, enableThinking } = this.settings.settings;
    try {
      result = await engine.generate({ messages: history, sampling, enableThinking }, (chunk) => {
        if (chunk.promptTokens !== undefined) this.live.prompt(chunk.promptTokens);
        text += chunk.text;
        if (chunk.reasoning) reasoning += chunk.reasoning;
        this.live.chunk(chunk.tokens);
        this.scheduleRender(() => {
          put({ ...assistant, content: text, ...(reasoning ? { reasoning } : {}) });
          this.announce(text, false);
        }, text.length);
      });
      this.cancelRender();
      put({
        ...assistant,
        content: result.text,
        ...(result.reasoning ? { reasoning: result.reasoning } : {}),
        metrics: result.metrics,
        finishReason: result.finishReason,
      });
    } catch (error) {
      this.cancelRender();
      put({ ...assistant, content: text, error: messageOf(error) });
    }
    this.live.finish(result?.metrics ?? null);
    this.streamingId = null;
    this.stopping = false;
    this.announce(assistant.content, true);
    conversation.updatedAt = Date.now();
    await this.store.put(structuredClone(conversation)).catch(() => undefined);
    await this.reloadList();
  }

  /**
   * Applies streamed text at most once per frame, and less often as the answer grows: the Markdown
   * is re-parsed whole each time, so its cost grows with the text (1 KB: every 50 ms, 5 KB+: 4 per s).
   */
  private scheduleRender(run: () => void, textLength: number): void {
    this.#pendingRender = run;
    if (this.#renderTimer) return;
    const delayMs = Math.min(250, textLength / 20);
    this.#renderTimer = setTimeout(
      () =>
        requestAnimationFrame(() => {
          this.#renderTimer = 0;
          const pending = this.#pendingRender;
          this.#pendingRender = null;
          pending?.();
        }),
      delayMs,
    );
  }

  private cancelRender(): void {
    clearTimeout(this.#renderTimer);
    this.#renderTimer = 0;
    this.#pendingRender = null;
  }

  /** Polite announcements in whole sentences, not every token. */
  private announce(text: string, final: boolean): void {
    const now = performance.now();
    if (!final && now - this.#lastAnnounceMs < ANNOUNCE_EVERY_MS) return;
    const rest = text.slice(this.#announcedUpTo);
    const boundary = final ? rest.length : Math.max(rest.lastIndexOf('. '), rest.lastIndexOf('\n')) + 1;
    if (boundary <= 0) return;
    // A screen reader needs the sentence, not a megabyte: long stretches are cut.
    const sentence = rest.slice(0, Math.min(boundary, MAX_ANNOUNCED_CHARS)).trim();
    this.#announcedUpTo += boundary;
    this.#lastAnnounceMs = now;
    if (sentence) this.announcement = sentence;
  }

  private async stop(): Promise<void> {
    if (this.busy) this.stopping = true;
    this.live.stopping();
    const entry = this.app.entry(this.app.state.loadedKey);
    if (entry) await this.app.engineFor(entry).interrupt();
  }

  private followLatest(): void {
    this.#follow = true;
    this.awayFromLatest = false;
    this.requestUpdate();
  }

  /**
   * While following, scrolls to the bottom after the messages have rendered (they render after this
   * view, so in the next frame): the streamed answer and, once it ends, its figures and actions.
   */
  override updated(): void {
    if (!this.#follow || this.#scrollFrame) return;
    this.#scrollFrame = requestAnimationFrame(() => {
      this.#scrollFrame = 0;
      const list = this.renderRoot.querySelector('.messages');
      if (list && this.#follow) {
        list.scrollTop = list.scrollHeight;
        this.#autoScrollTop = list.scrollTop;
      }
    });
  }

  /** Scrolling up stops the following; scrolling back to the bottom resumes it. */
  private onScroll(event: Event): void {
    const list = event.target as HTMLElement;
    // The scroll event of our own scroll arrives a frame later, when a fast stream may already have
    // grown the answer by more than the margin: only a move up from where we put it is the visitor's.
    if (this.#follow && list.scrollTop >= this.#autoScrollTop - 1) return;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    this.#follow = atBottom;
    this.awayFromLatest = !atBottom;
  }

  private jumpToLatest(): void {
    this.followLatest();
    const list = this.renderRoot.querySelector('.messages');
    if (list) {
      list.scrollTop = list.scrollHeight;
      this.#autoScrollTop = list.scrollTop;
    }
  }

  /**
   * A reopened conversation written by another model than the loaded one says so, and offers to
   * load that model (when this app still lists it).
   */
  private renderWriter() {
    const conversation = this.current;
    if (!conversation || this.busy) return nothing;
    const writer = writerOf(conversation);
    if (!writer) return nothing;
    const { loadedKey, selectedKey, status } = this.app.state;
    const entry =
      this.app.entry(writer.key) ??
      (writer.key === null ? this.app.state.catalog.find((e) => e.name === writer.name) : undefined);
    if (entry && entry.key === loadedKey && status === 'ready') return nothing;
    const loaded = this.app.entry(loadedKey);
    const loading = entry !== undefined && status === 'loading' && selectedKey === entry.key;
    // The offer never loads what the Models view would refuse, and says when it is a download.
    const tooBig = entry !== undefined && this.app.fit(entry).verdict === 'too-big';
    const download =
      entry?.origin === 'builtin' && !this.app.isCached(entry, this.app.dtypeFor(entry))
        ? estimateDownloadBytes(entry, this.app.dtypeFor(entry))
        : null;
    const action = entry
      ? `Load ${entry.name}${download !== null ? ` (downloads ≈ ${formatBytes(download)})` : ''}`
      : '';
    return html`<p class="writer" role="note" data-testid="written-with">
      <span>Written with <bdi>${entry?.name ?? writer.name}</bdi>${
        // The aside about the writer comes right after its name, before the loaded model's.
        entry ? (tooBig ? ', which does not fit this device' : '') : ', which this app no longer lists'
      }${loaded && status === 'ready' ? html`; <bdi>${loaded.name}</bdi> is loaded` : nothing}.</span>
      ${
        entry && !loading && !tooBig
          ? html`<button type="button" @click=${() => this.app.select(entry.key)}>${action}</button>`
          : loading
            ? html`<span class="muted">Loading…</span>`
            : nothing
      }
    </p>`;
  }

  private renderEmpty() {
    const { status, loadedKey } = this.app.state;
    const loaded = this.app.entry(loadedKey);
    if (loaded && status === 'ready') {
      return html`<div class="empty">
        <h1>Chat with ${loaded.name}</h1>
        <p>
          ${
            loaded.runs === 'device'
              ? 'It runs in this tab: what you type stays on this device.'
              : 'This is a remote tier: messages are sent to its server.'
          }
        </p>
        ${
          loaded.synthetic
            ? html`<p><span class="badge synthetic">synthetic twin</span> random weights: its answers are noise, its speed is real.</p>`
            : nothing
        }
      </div>`;
    }
    return html`<div class="empty">
      <h1>Private chat, on your device</h1>
      <p>Pick a model in the Model menu above, or compare them all in <a href="#models">Models</a>.</p>
    </div>`;
  }

  override render() {
    if (!this.app) return nothing;
    const messages = this.current?.messages ?? [];
    const ready = this.app.state.status === 'ready';
    const lastAssistant = [...messages].reverse().find((m) => m.role === 'assistant');
    return html`
      <aside class=${this.sidebarOpen ? 'open' : ''} aria-label="Conversations" id="conversations">
        <div class="aside-top">
          <button class="primary" @click=${this.newConversation}>New conversation</button>
          <button class="close" aria-label="Close conversations" @click=${this.closeSidebar}>✕</button>
        </div>
        <h2>Saved in this browser</h2>
        <ul>
          ${this.conversations.map(
            (c) => html`<li aria-current=${c.id === this.current?.id ? 'true' : 'false'}>
              <button class="quiet open" @click=${() => this.open(c.id)} title=${c.title}>${c.title}</button>
              <button class="quiet delete" aria-label=${`Delete conversation: ${c.title}`} @click=${() => this.deleteConversation(c)}>
                ✕
              </button>
            </li>`,
          )}
        </ul>
        ${this.conversations.length === 0 ? html`<p class="muted">No saved conversations yet.</p>` : nothing}
      </aside>
      <div class="column">
        <div class="toolbar">
          <button
            aria-expanded=${this.sidebarOpen}
            aria-controls="conversations"
            @click=${() => (this.sidebarOpen = !this.sidebarOpen)}
          >
            Conversations
          </button>
          <button @click=${this.newConversation}>New</button>
        </div>
        ${this.renderWriter()}
        <section class="messages" aria-label="Conversation" @scroll=${this.onScroll}
          @et-edit=${this.onEdit} @et-regenerate=${this.onRegenerate}>
          ${
            // Keyed by conversation and by message: an element never carries one message's content
            // over to another's, even if a render of it failed.
            keyed(
              this.current?.id ?? '',
              messages.length === 0
                ? this.renderEmpty()
                : repeat(
                    messages,
                    (m) => m.id,
                    (m) => html`<et-chat-message
                      .message=${m}
                      ?streaming=${m.id === this.streamingId}
                      ?busy=${this.busy || !ready}
                      ?canRegenerate=${m.id === lastAssistant?.id}
                    ></et-chat-message>`,
                  ),
            )
          }
        </section>
        <div class="bottom">
          ${
            this.awayFromLatest && messages.length > 0
              ? html`<button class="jump" @click=${this.jumpToLatest}>Jump to latest ↓</button>`
              : nothing
          }
          <et-metrics-panel .live=${this.live}></et-metrics-panel>
          <et-composer
            ?busy=${this.busy}
            ?stopping=${this.busy && this.stopping}
            ?disabled=${!ready}
            placeholder=${ready ? 'Ask anything' : 'Load a model to start'}
            @et-send=${(e: CustomEvent<{ text: string }>) => this.send(e.detail.text)}
            @et-stop=${this.stop}
          ></et-composer>
        </div>
        <div class="visually-hidden" aria-live="polite" data-testid="announcer">${this.announcement}</div>
      </div>
    `;
  }
}

customElements.define('et-chat-view', EtChatView);

declare global {
  interface HTMLElementTagNameMap {
    'et-chat-view': EtChatView;
  }
}
