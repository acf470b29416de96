/**
 * One table across many bench reports (typically one per model preset): per model, native's fastest
 * row, the stock transformers.js row and edgetier's default WASM row, with the ratios between them.
 * What `edgetier bench --summary` prints; pure, so it is tested on reports built in the test.
 */
import { formatStats } from './render.ts';
import { type BenchReport, type BenchRow, comparedRows, roundRatios, statsRatio } from './schema.ts';

function times(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

function tg(row: BenchRow | undefined): string {
  if (!row) return '—';
  const threads = row.threads > 0 ? `${row.threads}t` : 'auto threads';
  return `${formatStats(row.tg_tok_s, 1)} (${row.dtype}, ${threads})`;
}

/** " (rounds 1.33-1.61×)" for a report run in rounds; nothing otherwise. */
function roundRange(edge: BenchRow, other: BenchRow | undefined): string {
  const ratios = other ? roundRatios(edge, other, (r) => r.tg_tok_s) : null;
  if (!ratios || ratios.length < 2) return '';
  return ` (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}×)`;
}

function ttft(row: BenchRow | undefined): string {
  return row?.ttft_ms ? row.ttft_ms.mean.toFixed(0) : '—';
}

function modelCell(report: BenchReport, id: string): string {
  const facts = report.models.find((m) => m.id === id);
  if (!facts?.synthetic) return id;
  return `${id} (twin of ${facts.mirrors ?? 'no real model'}: random weights)`;
}

export function toSummaryMarkdown(reports: readonly BenchReport[]): string {
  const lines = [
    '| model | load avg at start | native fastest: tg tok/s | stock transformers.js: tg tok/s | edgetier default: tg tok/s | default / stock: pp, tg | default / native fastest: pp, tg | TTFT ms (pp N): default, stock |',
    '| --- | ---: | --- | --- | --- | ---: | ---: | ---: |',
  ];
  let lowest: { ratio: number; model: string } | null = null;
  for (const report of reports) {
    const load = report.environment.load_average?.[0];
    for (const { model, edge, stock, native } of comparedRows(report.rows)) {
      const stockTg = statsRatio(edge.tg_tok_s, stock?.tg_tok_s ?? null);
      if (stockTg !== null && (lowest === null || stockTg < lowest.ratio)) lowest = { ratio: stockTg, model };
      const cells = [
        modelCell(report, model),
        load === undefined ? '—' : load.toFixed(2),
        tg(native),
        tg(stock),
        tg(edge),
        `${times(statsRatio(edge.pp_tok_s, stock?.pp_tok_s ?? null))}, ${times(stockTg)}${roundRange(edge, stock)}`,
        `${times(statsRatio(edge.pp_tok_s, native?.pp_tok_s ?? null))}, ${times(statsRatio(edge.tg_tok_s, native?.tg_tok_s ?? null))}${roundRange(edge, native)}`,
        `${ttft(edge)}, ${ttft(stock)} (pp ${report.params.pp})`,
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  if (lines.length === 2) return 'No report holds an edgetier default WASM row that ran.\n';
  const footer = lowest
    ? [``, `Lowest edgetier default / stock decode ratio: ${times(lowest.ratio)} (${lowest.model}).`]
    : [];
  return `${[...lines, ...footer].join('\n')}\n`;
}
