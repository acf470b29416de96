/**
 * Compare's trade-off table: what each side is (model, parameters, download, memory, quality) and
 * what the run measured (speed, cost, bytes that left the device, where they went). Contested rows
 * mark the better side and show equal figures as a tie; the legend says so in words.
 */
import { html, nothing, type TemplateResult } from 'lit';
import {
  type CatalogEntry,
  estimateCostUsd,
  estimateDownloadBytes,
  estimateMemoryBytes,
  formatBytes,
  formatCostUsd,
  formatParams,
  kvElementFor,
} from '../../../core/catalog.ts';
import type { Device } from '../../../core/device.ts';
import type { Dtype } from '../../../core/dtypes.ts';
import type { GenerateResult } from '../../../core/engine.ts';
import type { RenderedAnswer, StreamingRenderer } from '../../markdown/markdown.ts';
import type { LiveMetrics } from '../../state/live-metrics.ts';
import { tierUrl, tierUrlProblem } from '../../state/tier-errors.ts';
import { fmtMs, fmtRate } from '../metrics-panel/metrics-panel.ts';

export interface Side {
  entry: CatalogEntry;
  text: string;
  rendered: RenderedAnswer;
  renderer: StreamingRenderer;
  live: LiveMetrics;
  result: GenerateResult | null;
  error: string | null;
  /** From the start of the run until this side ended (a queued side included). */
  running: boolean;
  /** One after the other: this side waits for the other to end. */
  queued: boolean;
  bytesOut: number;
  /** The model that answered, as the server names it, and whether it is a synthetic twin. */
  served: string;
  synthetic: boolean;
  /** Parameter count, where known (a tier says it only when it is this app's own server). */
  params: number | null;
  /** The on-device side: the weight format and backend it runs in. */
  dtype: Dtype | null;
  device: Device | null;
  /** edgetier's CPU engine runs it (LoadInfo.engine): its KV cache may be int8, not ORT's float32. */
  cpuEngine: boolean;
}

export type RunMode = 'sequential' | 'at-once';
export type Verdict = 'better' | 'tie' | null;

/**
 * Which side wins a contested row: none when a figure is missing; a tie when the figures read the
 * same as shown (12.3 tok/s against 12.3 tok/s is no win, whatever the next digit says).
 */
export function verdicts(
  shown: readonly string[],
  values: readonly (number | null)[],
  lowIsGood: boolean,
): Verdict[] {
  if (values.some((v) => v === null || !Number.isFinite(v))) return values.map(() => null);
  if (new Set(shown).size === 1) return values.map(() => 'tie');
  const numbers = values as number[];
  const target = lowIsGood ? Math.min(...numbers) : Math.max(...numbers);
  return numbers.map((v) => (v === target ? 'better' : null));
}

/** What the legend and each run's note say about how the two sides ran. */
export function modeNote(mode: RunMode, sides: readonly Side[], sharedComputer: boolean): string {
  const [local, tier] = sides;
  if (mode === 'sequential') {
    return `Ran one after the other: ${local?.entry.name} first, then ${tier?.entry.name}, so neither slowed the other down.`;
  }
  return sharedComputer
    ? 'Ran at once: the tier runs on this computer too, so both shared its processor and each ran slower than it would alone.'
    : `Ran at once: ${tier?.entry.name}'s stream shared this device's network and page with ${local?.entry.name}.`;
}

interface Measured {
  text: string;
  value: number | null;
}

const DASH: Measured = { text: '—', value: null };

function measures(side: Side, pageHref: string) {
  const m = side.result?.metrics;
  const outTokens = m ? m.decodeTokens + (m.ttftMs > 0 ? 1 : 0) : 0;
  const cost = m ? estimateCostUsd(side.entry, m.prefillTokens + m.cachedPromptTokens, outTokens) : null;
  const host = side.entry.remote ? tierHost(side.entry.remote, pageHref) : '';
  // A side Stop or the provider's filter cut short: its total time and cost cover part of an
  // answer, no contest for them.
  const reason = side.result?.finishReason;
  const cut = reason === 'aborted' ? 'stopped' : reason === 'filtered' ? 'filtered' : null;
  const partial = (measured: Measured): Measured =>
    cut ? { text: `${measured.text} (${cut})`, value: null } : measured;
  return {
    ttft: m ? { text: fmtMs(m.ttftMs), value: m.ttftMs } : DASH,
    rate: m ? { text: `${fmtRate(m.decodeTokPerSec)} tok/s`, value: m.decodeTokPerSec } : DASH,
    total: m ? partial({ text: fmtMs(m.totalMs), value: m.totalMs }) : DASH,
    tokens: m ? `${outTokens}${cut ? ` (${cut})` : ''}` : '—',
    cost: cost === null ? DASH : partial({ text: formatCostUsd(cost), value: cost }),
    bytes: m ? { text: side.bytesOut.toLocaleString('en'), value: side.bytesOut } : DASH,
    where: side.entry.remote
      ? host.startsWith('nowhere')
        ? `N${host.slice(1)}`
        : m
          ? host
          : `${host} (no answer)`
      : 'Nowhere: stayed in this tab',
  };
}

/** The tier's host as called; an address that does not parse (refused before any call) says so. */
function tierHost(tier: Parameters<typeof tierUrl>[0] & { name: string }, pageHref: string): string {
  return tierUrlProblem(tier, pageHref) ? 'nowhere: the address was refused' : tierUrl(tier, pageHref).host;
}

function modelCell(side: Side) {
  const twin = side.synthetic ? html` <span class="badge synthetic">Synthetic twin</span>` : nothing;
  if (side.entry.remote) {
    return html`<bdi>${side.served || 'not reached'}</bdi>${twin}`;
  }
  const backend = side.device === 'webgpu' ? 'WebGPU' : side.device === 'cpu' ? 'CPU' : 'WASM';
  const runtime = side.dtype ? ` · ${side.dtype} on ${backend}` : '';
  return html`<bdi>${side.entry.name}</bdi>${runtime}${twin}`;
}

function downloadCell(side: Side): string {
  if (side.entry.remote) return 'none: runs on the server';
  if (!side.dtype) return '—';
  const exact = side.entry.downloadBytes[side.dtype];
  if (exact !== undefined) return formatBytes(exact);
  const bytes = estimateDownloadBytes(side.entry, side.dtype);
  return bytes === null ? 'unknown' : `about ${formatBytes(bytes)}`;
}

function memoryCell(side: Side): string {
  if (side.entry.remote) return 'the server’s, none here';
  if (!side.dtype) return '—';
  const device = side.device === 'webgpu' ? 'webgpu' : 'wasm';
  const runtime = side.cpuEngine ? 'edgetier' : 'onnxruntime';
  const element = kvElementFor(side.entry, side.dtype, device, runtime, side.cpuEngine);
  const bytes = estimateMemoryBytes(side.entry, side.dtype, device, element);
  return bytes === null ? 'unknown' : `about ${formatBytes(bytes)}`;
}

function paramsCell(side: Side): string {
  if (side.params !== null) return formatParams(side.params);
  return side.entry.remote ? 'not published by the tier' : 'unknown';
}

function qualityCell(side: Side): string {
  if (side.synthetic) return 'random weights: quality not comparable';
  if (side.entry.remote && !side.result) return '—';
  return 'real weights: judge by the answers below';
}

/** How a side ended, in the row shown when one failed: the local side's reason in full (the tier's is above the table). */
function outcomeCell(side: Side): string {
  if (side.error) return side.entry.remote ? 'failed: the message above says why' : `failed: ${side.error}`;
  if (side.result?.finishReason === 'aborted') return 'stopped';
  if (side.result?.finishReason === 'filtered') return "cut by the provider's filter";
  return side.result ? 'answered' : 'not run';
}

const mark = (verdict: Verdict) =>
  verdict === 'better'
    ? html` <span class="mark better">better</span>`
    : verdict === 'tie'
      ? html` <span class="mark tie">tie</span>`
      : nothing;

export function renderTradeoff(
  sides: readonly Side[],
  mode: RunMode,
  sharedComputer: boolean,
  pageHref: string,
): TemplateResult {
  const cols = sides.map((s) => measures(s, pageHref));
  const contest = (pick: (c: (typeof cols)[number]) => Measured, lowIsGood: boolean) => {
    const cells = cols.map(pick);
    const marks = verdicts(
      cells.map((c) => c.text),
      cells.map((c) => c.value),
      lowIsGood,
    );
    return cells.map(
      (c, i) =>
        html`<td class=${marks[i] ?? ''}><span class="value">${c.text}</span>${mark(marks[i] ?? null)}</td>`,
    );
  };
  const facts = (values: readonly unknown[]) => values.map((v) => html`<td>${v}</td>`);
  const failed = sides.some((s) => s.error);
  return html`<div class="tradeoff">
    <div class="table-wrap" tabindex="-1" data-testid="tradeoff-wrap">
      <table data-testid="tradeoff">
        <caption>The trade-off</caption>
        <thead>
          <tr><th scope="col">Measure</th>${sides.map(
            (s) =>
              html`<th scope="col"><bdi>${s.entry.name}</bdi>${s.error ? html` <span class="mark failed">failed</span>` : nothing}</th>`,
          )}</tr>
        </thead>
        <tbody>
          ${failed ? html`<tr class="outcome"><th scope="row">Outcome</th>${facts(sides.map(outcomeCell))}</tr>` : nothing}
          <tr><th scope="row">Model</th>${facts(sides.map(modelCell))}</tr>
          <tr><th scope="row">Parameters</th>${facts(sides.map(paramsCell))}</tr>
          <tr><th scope="row">Download</th>${facts(sides.map(downloadCell))}</tr>
          <tr><th scope="row">Memory</th>${facts(sides.map(memoryCell))}</tr>
          <tr><th scope="row">Quality</th>${facts(sides.map(qualityCell))}</tr>
          <tr><th scope="row">Time to first token</th>${contest((c) => c.ttft, true)}</tr>
          <tr><th scope="row">Decode speed</th>${contest((c) => c.rate, false)}</tr>
          <tr><th scope="row">Total time</th>${contest((c) => c.total, true)}</tr>
          <tr><th scope="row">Tokens generated</th>${facts(cols.map((c) => c.tokens))}</tr>
          <tr><th scope="row">Estimated cost</th>${contest((c) => c.cost, true)}</tr>
          <tr><th scope="row">Bytes that left the device</th>${contest((c) => c.bytes, true)}</tr>
          <tr><th scope="row">Where the data went</th>${facts(cols.map((c) => c.where))}</tr>
        </tbody>
      </table>
    </div>
    <p class="legend" data-testid="legend">
      <span class="mark better">better</span> the faster, cheaper or more private of the two ·
      <span class="mark tie">tie</span> the same as shown · rows without a mark are facts, not a contest.
    </p>
    <p class="legend" data-testid="run-mode">${modeNote(mode, sides, sharedComputer)}</p>
  </div>`;
}
