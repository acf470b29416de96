/**
 * Model load progress: bytes so far and in all, the download rate and time left; "from the browser
 * cache" (no rate) when nothing is downloaded; "Setting up the model…" once the files are in and the
 * runtime builds the model; "On ONNX Runtime (…)" first where edgetier's CPU engine refused the model and
 * ORT's load starts the figures over.
 */
import { html, LitElement } from 'lit';
import type { LoadProgress } from '../../../core/engine.ts';
import { describeProgress } from '../../../core/load-progress.ts';

import { sharedStyles } from '../../styles/shared.styles.ts';
import { downloadProgressStyles } from './download-progress.styles.ts';

export class EtDownloadProgress extends LitElement {
  static override styles = [sharedStyles, downloadProgressStyles];
  static override properties = { progress: { attribute: false }, label: {} };

  declare progress: LoadProgress | null;
  declare label: string;

  constructor() {
    super();
    this.progress = null;
    this.label = 'Loading';
  }

  override render() {
    const p = this.progress;
    const total = p?.allTotalBytes ?? 0;
    const done = p?.allLoadedBytes ?? 0;
    const pct = total > 0 ? Math.min(100, (done / total) * 100) : 0;
    const setup = p?.phase === 'setup';
    return html`
      <div class="row">
        <span>${this.label}</span>
        <span class="num muted" data-testid="download-figures">${describeProgress(p)}</span>
      </div>
      <progress
        aria-label=${this.label}
        max="100"
        .value=${setup ? 100 : total > 0 ? pct : 0}
        aria-valuetext=${setup ? 'setting up the model' : p ? `${Math.round(pct)}%` : 'starting'}
      ></progress>
    `;
  }
}

customElements.define('et-download-progress', EtDownloadProgress);

declare global {
  interface HTMLElementTagNameMap {
    'et-download-progress': EtDownloadProgress;
  }
}
