/**
 * Model load progress: bytes so far and in all, the download rate and time left; "from the browser
 * cache" (no rate) when nothing is downloaded; "Setting up the model…" once the files are in and the
 * runtime builds the model.
 */
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

/** The strip's figures: what arrived, from where, and at what rate (downloads only). */
export function describeProgress(p: LoadProgress | null): string {
  if (!p) return 'starting…';
  const total = p.allTotalBytes;
  const done = p.allLoadedBytes;
  const local = p.localBytes ?? 0;
  const allLocal = p.localBytes !== undefined && done > 0 && local >= done;
  if (p.phase === 'setup') {
    const where = allLocal ? 'read from the browser cache' : 'downloaded';
    return `Setting up the model… (${formatBytes(total)} ${where})`;
  }
  const bytes = `${formatBytes(done)} of ${total > 0 ? formatBytes(total) : '?'}`;
  // Bytes read from the cache come at disk speed: a rate would read as an impossible download.
  if (allLocal) return `${bytes} · from the browser cache`;
  return `${bytes} · ${formatBytes(p.bytesPerSec)}/s · ${formatEta(p.etaSec)}`;
}

customElements.define('et-download-progress', EtDownloadProgress);

declare global {
  interface HTMLElementTagNameMap {
    'et-download-progress': EtDownloadProgress;
  }
}
