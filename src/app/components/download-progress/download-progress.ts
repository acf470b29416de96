/** Model download progress: bytes so far and in all, rate and time left. */
import { html, LitElement } from 'lit';
import { formatBytes } from '../../../core/catalog.ts';
import type { LoadProgress } from '../../../core/engine.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { downloadProgressStyles } from './download-progress.styles.ts';

export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'estimating…';
  if (seconds < 1) return 'under a second left';
  if (seconds < 90) return `${Math.round(seconds)} s left`;
  return `${Math.round(seconds / 60)} min left`;
}

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
    return html`
      <div class="row">
        <span>${this.label}</span>
        <span class="num muted" data-testid="download-figures"
          >${
            p
              ? `${formatBytes(done)} of ${total > 0 ? formatBytes(total) : '?'} · ${formatBytes(p.bytesPerSec)}/s · ${formatEta(p.etaSec)}`
              : 'starting…'
          }</span
        >
      </div>
      <progress
        aria-label=${this.label}
        max="100"
        .value=${total > 0 ? pct : 0}
        aria-valuetext=${p ? `${Math.round(pct)}%` : 'starting'}
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
