/**
 * One message of a conversation: the answer as sanitised Markdown, the thinking part folded apart,
 * its own figures, and the actions (copy; edit and resend for questions; regenerate for the last
 * answer). Markdown is re-rendered at most once per animation frame while streaming.
 *
 * @fires et-edit - {id, text}: a question was edited; resend from there
 * @fires et-regenerate - {id}: answer this question again
 */
import { html, LitElement, nothing } from 'lit';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import {
  MAX_RENDERED_CHARS,
  type RenderedAnswer,
  renderAnswer,
  StreamingRenderer,
  truncationNote,
} from '../../markdown/markdown.ts';
import type { StoredMessage } from '../../state/conversation-store.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { metricsSummary } from '../metrics-panel/metrics-panel.ts';
import { chatMessageStyles } from './chat-message.styles.ts';

export interface EditDetail {
  id: string;
  text: string;
}

export class EtChatMessage extends LitElement {
  static override styles = [sharedStyles, chatMessageStyles];
  static override properties = {
    message: { attribute: false },
    streaming: { type: Boolean },
    canRegenerate: { type: Boolean },
    busy: { type: Boolean },
    editing: { state: true },
    copied: { state: true },
  };

  declare message: StoredMessage;
  declare streaming: boolean;
  declare canRegenerate: boolean;
  declare busy: boolean;
  declare editing: boolean;
  declare copied: boolean;
  #rendered: RenderedAnswer = { html: '', shownChars: 0, totalChars: 0 };
  #renderedFor: string | null = null;
  #renderedStreaming = false;
  readonly #streamingRenderer = new StreamingRenderer();

  constructor() {
    super();
    this.streaming = false;
    this.canRegenerate = false;
    this.busy = false;
    this.editing = false;
    this.copied = false;
  }

  /** While streaming, only the growing block is parsed again; once done, the whole answer once. */
  private get rendered(): RenderedAnswer {
    const content = this.message.content;
    if (this.#renderedFor !== content || this.#renderedStreaming !== this.streaming) {
      this.#rendered = this.streaming ? this.#streamingRenderer.render(content) : renderAnswer(content);
      this.#renderedFor = content;
      this.#renderedStreaming = this.streaming;
    }
    return this.#rendered;
  }

  private async copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.message.content);
      this.copied = true;
      setTimeout(() => {
        this.copied = false;
      }, 1500);
    } catch {
      // Clipboard refused (no permission): select the text so Ctrl+C works instead.
      const range = document.createRange();
      const target = this.renderRoot.querySelector('.content');
      if (target) {
        range.selectNodeContents(target);
        getSelection()?.removeAllRanges();
        getSelection()?.addRange(range);
      }
    }
  }

  /** Opens the editor with the focus in its box, the text selected to its end. */
  private async startEdit(): Promise<void> {
    this.editing = true;
    await this.updateComplete;
    const box = this.renderRoot.querySelector('textarea');
    box?.focus();
    box?.setSelectionRange(box.value.length, box.value.length);
  }

  /** Closes the editor, the focus back on its Edit button. */
  private async cancelEdit(): Promise<void> {
    this.editing = false;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLButtonElement>('button.edit')?.focus();
  }

  private submitEdit(event: Event): void {
    event.preventDefault();
    const text = (this.renderRoot.querySelector('textarea') as HTMLTextAreaElement).value.trim();
    if (!text) return;
    this.editing = false;
    this.dispatchEvent(
      new CustomEvent<EditDetail>('et-edit', {
        detail: { id: this.message.id, text },
        bubbles: true,
        composed: true,
      }),
    );
  }

  private renderEditor() {
    return html`<form @submit=${this.submitEdit}>
      <label class="visually-hidden" for="edit">Edit message</label>
      <textarea
        id="edit"
        .value=${this.message.content}
        @keydown=${(e: KeyboardEvent) => {
          if (e.key === 'Enter' && !e.shiftKey) this.submitEdit(e);
          if (e.key === 'Escape') this.cancelEdit();
        }}
      ></textarea>
      <div class="actions">
        <button type="button" @click=${this.cancelEdit}>Cancel</button>
        <button type="submit" class="primary" ?disabled=${this.busy}>Save and send</button>
      </div>
    </form>`;
  }

  override render() {
    const m = this.message;
    const isUser = m.role === 'user';
    if (this.editing) return html`<article class="user">${this.renderEditor()}</article>`;
    return html`<article class="${m.role} ${this.streaming ? 'streaming' : ''}" aria-busy=${this.streaming}>
      <div class="who">
        <span>${isUser ? 'You' : html`<bdi>${m.modelName ?? 'Assistant'}</bdi>`}</span>
        ${!isUser && m.local === true ? html`<span class="badge ok">on this device</span>` : nothing}
        ${!isUser && m.local === false ? html`<span class="badge">remote</span>` : nothing}
        ${this.streaming ? html`<span class="badge writing">writing…</span>` : nothing}
      </div>
      ${
        m.reasoning
          ? html`<details ?open=${this.streaming && !m.content}>
              <summary>Thinking${this.streaming && !m.content ? '…' : ''}</summary>
              <p class="reasoning">${m.reasoning.length > MAX_RENDERED_CHARS ? `${m.reasoning.slice(0, MAX_RENDERED_CHARS)}…` : m.reasoning}</p>
            </details>`
          : nothing
      }
      <div class="content">${unsafeHTML(this.rendered.html)}</div>
      ${this.rendered.shownChars < this.rendered.totalChars ? html`<p class="muted truncated" data-testid="truncated">${truncationNote(this.rendered)}</p>` : nothing}
      ${m.error ? html`<p class="error" role="alert">${m.error}</p>` : nothing}
      <footer>
        ${m.metrics && !this.streaming ? html`<span class="num" data-testid="message-metrics">${metricsSummary(m.metrics)}</span>` : nothing}
        ${m.finishReason === 'aborted' ? html`<span class="badge">stopped</span>` : nothing}
        ${m.finishReason === 'length' ? html`<span class="badge">length limit</span>` : nothing}
        ${m.finishReason === 'filtered' ? html`<span class="badge" title="The tier's provider stopped this answer with its content filter: it is incomplete.">cut by the provider's filter</span>` : nothing}
        <span class="actions">
          <button class="quiet" @click=${this.copy} aria-label=${isUser ? 'Copy question' : 'Copy answer'}>
            ${this.copied ? 'Copied' : 'Copy'}
          </button>
          ${isUser ? html`<button class="quiet edit" ?disabled=${this.busy} @click=${this.startEdit}>Edit</button>` : nothing}
          ${
            !isUser && this.canRegenerate
              ? html`<button
                  class="quiet"
                  ?disabled=${this.busy}
                  @click=${() =>
                    this.dispatchEvent(
                      new CustomEvent('et-regenerate', {
                        detail: { id: m.id },
                        bubbles: true,
                        composed: true,
                      }),
                    )}
                >
                  Regenerate
                </button>`
              : nothing
          }
        </span>
      </footer>
    </article>`;
  }
}

customElements.define('et-chat-message', EtChatMessage);

declare global {
  interface HTMLElementTagNameMap {
    'et-chat-message': EtChatMessage;
  }
  interface GlobalEventHandlersEventMap {
    'et-edit': CustomEvent<EditDetail>;
    'et-regenerate': CustomEvent<{ id: string }>;
  }
}
