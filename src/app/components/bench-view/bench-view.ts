/**
 * The Bench view's slot. The benchmark work fills this component (it receives the shared AppState);
 * until then it says what will be here and lets a page slot its own content in.
 *
 * @slot - benchmark content provided by the page
 */
import { html, LitElement } from 'lit';
import type { AppState } from '../../state/app-state.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { benchViewStyles } from './bench-view.styles.ts';

export class EtBenchView extends LitElement {
  static override styles = [sharedStyles, benchViewStyles];
  static override properties = { app: { attribute: false } };

  declare app: AppState | undefined;

  override render() {
    return html`<h1>Bench</h1>
      <slot>
        <p class="muted">
          Repeatable benchmarks of each tier on this device will appear here. Meanwhile, every answer in Chat
          and Compare shows its own measured tok/s and time to first token.
        </p>
      </slot>`;
  }
}

customElements.define('et-bench-view', EtBenchView);

declare global {
  interface HTMLElementTagNameMap {
    'et-bench-view': EtBenchView;
  }
}
