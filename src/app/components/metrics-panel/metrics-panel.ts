/**
 * Live generation figures: tok/s, time to first token, the prefill/decode split and a chart of
 * inter-token latency. Fed by a LiveMetrics store while streaming; shows its final figures after.
 */
import { html, LitElement, nothing } from 'lit';
import { type GenerationMetrics, prefillDecodeMs } from '../../../core/metrics.ts';
import { widthPercent } from '../../directives/width-percent.ts';
import type { LiveMetrics } from '../../state/live-metrics.ts';
import { StoreController } from '../../state/store.ts';
import { sharedStyles } from '../../styles/shared.styles.ts';
import { metricsPanelStyles } from './metrics-panel.styles.ts';
import '../sparkline/sparkline.ts';

export const fmtMs = (ms: number): string =>
  ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
export const fmtRate = (perSec: number): string => (perSec >= 100 ? perSec.toFixed(0) : perSec.toFixed(1));

export function metricsSummary(m: GenerationMetrics): string {
  const tokens = m.decodeTokens + (m.ttftMs > 0 ? 1 : 0);
  return `${fmtRate(m.decodeTokPerSec)} tok/s · TTFT ${fmtMs(m.ttftMs)} · ${tokens} tokens · ${fmtMs(m.totalMs)}`;
}

/** What an answer waits for before its first token. */
function phaseText(state: LiveMetrics['state']): string {
  if (state.stopping) return 'Stopping…';
  const prompt = state.promptTokens;
  if (prompt === null) return 'Reading the prompt…';
  return `Reading the prompt (${prompt} token${prompt === 1 ? '' : 's'})…`;
}

export class EtMetricsPanel extends LitElement {
  static override styles = [sharedStyles, metricsPanelStyles];
  static override properties = { live: { attribute: false } };

  declare live: LiveMetrics;
  #controller: StoreController | null = null;

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('live') && this.live && !this.#controller) {
      this.#controller = new StoreController(this, this.live);
      this.#controller.hostConnected();
    }
  }

  override render() {
    const state = this.live?.state;
    const m = state?.metrics;
    // A run stopped before its first token spent its time reading the prompt, not decoding.
    const { prefillMs, decodeMs } = m ? prefillDecodeMs(m) : { prefillMs: 0, decodeMs: 0 };
    const totalMs = m ? Math.max(1, m.totalMs) : 1;
    const itl = state?.itlMs ?? [];
    const lastItl = itl.at(-1);
    // Before the first token there is no rate to show: say what the engine is doing instead, over
    // the figures (an overlay, so nothing under it moves).
    const phase = state?.running === true && (state.tokens === 0 || state.stopping) ? phaseText(state) : null;
    return html`<div class="panel" role="group" aria-label="Generation metrics">
      ${phase ? html`<p class="phase" data-testid="phase">${phase}</p>` : nothing}
      <div class="stat"><span class="label">Decode</span><span class="value" data-testid="tok-s">${m ? `${fmtRate(m.decodeTokPerSec)} tok/s` : '—'}</span></div>
      <div class="stat"><span class="label">Time to first token</span><span class="value" data-testid="ttft">${m && m.ttftMs > 0 ? fmtMs(m.ttftMs) : '—'}</span></div>
      <div class="stat">
        <span class="label">Prefill / decode</span>
        <span class="value">${m ? `${fmtMs(prefillMs)} / ${fmtMs(decodeMs)}` : '—'}</span>
        <!-- One bar in the decode colour, the prefill share drawn over it from the left: only a
             width changes as figures update, nothing moves (no layout shift). -->
        <div class="split ${m && m.totalMs > 0 ? 'has-data' : ''}" aria-hidden="true">
          <span class="prefill" ${widthPercent(m ? (100 * prefillMs) / totalMs : 0)}></span>
        </div>
      </div>
      <div class="stat"><span class="label">Tokens</span><span class="value" data-testid="tokens">${m ? m.decodeTokens + (m.ttftMs > 0 ? 1 : 0) : '—'}</span></div>
      <div class="stat chart">
        <span class="label">Inter-token latency${lastItl !== undefined ? html` <span class="num">${fmtMs(lastItl)}</span>` : ''}</span>
        <et-sparkline
          .values=${itl}
          label=${m ? `Inter-token latency, median ${fmtMs(m.itlP50Ms)}` : 'Inter-token latency: no data yet'}
        ></et-sparkline>
      </div>
    </div>`;
  }
}

customElements.define('et-metrics-panel', EtMetricsPanel);

declare global {
  interface HTMLElementTagNameMap {
    'et-metrics-panel': EtMetricsPanel;
  }
}
