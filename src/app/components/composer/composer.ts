/**
 * The message box. Enter sends, Shift+Enter breaks the line, Esc stops a running answer.
 *
 * @fires et-send - {text}: the person sent a message
 * @fires et-stop - stop the running answer
 */
import { html, LitElement } from 'lit';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { composerStyles } from './composer.styles.ts';

export class EtComposer extends LitElement {
  static override styles = [sharedStyles, composerStyles];
  static override properties = {
    busy: { type: Boolean },
    stopping: { type: Boolean },
    disabled: { type: Boolean },
    placeholder: {},
  };

  declare busy: boolean;
  /** Stop was pressed; the answer has not ended yet. */
  declare stopping: boolean;
  declare disabled: boolean;
  declare placeholder: string;

  constructor() {
    super();
    this.busy = false;
    this.stopping = false;
    this.disabled = false;
    this.placeholder = 'Ask anything';
  }

  private get textarea(): HTMLTextAreaElement {
    return this.renderRoot.querySelector('textarea') as HTMLTextAreaElement;
  }

  /** Puts text in the box (for "edit") and focuses it. */
  setText(text: string): void {
    this.textarea.value = text;
    this.autosize();
    this.textarea.focus();
  }

  override focus(): void {
    this.textarea?.focus();
  }

  private autosize(): void {
    const t = this.textarea;
    t.style.height = 'auto';
    t.style.height = `${Math.min(t.scrollHeight + 2, 192)}px`;
  }

  private send(): void {
    const text = this.textarea.value.trim();
    if (!text || this.busy || this.disabled) return;
    this.dispatchEvent(new CustomEvent('et-send', { detail: { text }, bubbles: true, composed: true }));
    this.textarea.value = '';
    this.autosize();
  }

  private stop(): void {
    this.dispatchEvent(new CustomEvent('et-stop', { bubbles: true, composed: true }));
  }

  private onKeydown(event: KeyboardEvent): void {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === 'Escape' && this.busy) {
      event.preventDefault();
      this.stop();
    }
  }

  override render() {
    return html`<form
        @submit=${(e: Event) => {
          e.preventDefault();
          this.send();
        }}
      >
        <label class="visually-hidden" for="message">Message</label>
        <textarea
          id="message"
          rows="1"
          placeholder=${this.placeholder}
          aria-describedby="hint"
          @keydown=${this.onKeydown}
          @input=${this.autosize}
        ></textarea>
        <div class="buttons">
          ${
            this.busy
              ? this.stopping
                ? // Not disabled: the focus stays on it until Send comes back.
                  html`<button type="button" class="danger" aria-disabled="true">Stopping…</button>`
                : html`<button type="button" class="danger" @click=${this.stop}>Stop</button>`
              : html`<button type="submit" class="primary" ?disabled=${this.disabled}>Send</button>`
          }
        </div>
      </form>
      <p class="hint" id="hint">Enter sends · Shift+Enter new line · Esc stops</p>`;
  }
}

customElements.define('et-composer', EtComposer);

declare global {
  interface HTMLElementTagNameMap {
    'et-composer': EtComposer;
  }
  interface GlobalEventHandlersEventMap {
    'et-send': CustomEvent<{ text: string }>;
    'et-stop': CustomEvent<void>;
  }
}
