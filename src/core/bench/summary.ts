/**
 * One table across many bench reports (typically one per model preset): per model, edgetier's
 * default WASM row against each denominator the report names — stock transformers.js at the same
 * threads and at its defaults, native on the same file, native's fastest row per metric, and ORT-web
 * at the same threads on ORT's own plan's dtype (the previous default, its cell naming that dtype; a
 * column only when some report has that row, so reports written before 'auto' summarise as they did). What `edgetier bench --summary` prints;
 * pure, so it is tested on reports built in the test.
 */
import { cell, formatStats } from './render.ts';
import {
  type BenchReport,
  type BenchRow,
  type BenchStats,
  comparedRows,
  roundRatios,
  rowDepth,
  statsRatio,
} from './schema.ts';

function times(value: number | null): string {
  return value === null ? '—' : `${value.toFixed(2)}×`;
}

/** `ran`: the cell names the row's build too (edgetier-wasm or ORT-web's jspi/wasm). */
function tg(row: BenchRow | undefined, ran = false): string {
  if (!row) return '—';
  const threads = row.threads > 0 ? `${row.threads}t` : 'auto threads';
  return `${formatStats(row.tg_tok_s, 1)} (${row.dtype}, ${threads}${ran ? `, ${row.ort_build}` : ''})`;
}

/** " (rounds 1.33-1.61×)" for a report run in rounds; nothing otherwise. */
function roundRange(
  edge: BenchRow,
  other: BenchRow | undefined,
  pick: (r: BenchRow) => BenchStats | null,
): string {
  const ratios = other ? roundRatios(edge, other, pick) : null;
  if (!ratios || ratios.length < 2) return '';
  return ` (rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}×)`;
}

/** "1.06×, 1.11× (rounds 1.02-1.15×)": pp and tg against one row, tg's range over the rounds. */
function both(edge: BenchRow, other: BenchRow | undefined): string {
  const pp = statsRatio(edge.pp_tok_s, other?.pp_tok_s ?? null);
  const tgRatio = statsRatio(edge.tg_tok_s, other?.tg_tok_s ?? null);
  return `${times(pp)}, ${times(tgRatio)}${roundRange(edge, other, (r) => r.tg_tok_s)}`;
}

/** "0.41× (q8 2t)": one metric against the row that is fastest at it, which the cell names. */
function one(edge: BenchRow, other: BenchRow | undefined, pick: (r: BenchRow) => BenchStats | null): string {
  if (!other) return '—';
  const threads = other.threads > 0 ? `${other.threads}t` : 'auto threads';
  return `${times(statsRatio(pick(edge), pick(other)))} (${other.dtype} ${threads})`;
}

/**
 * "0.80×, 2.44× (q8 2t; rounds 2.00-3.00×)": against the previous default, whose dtype the cell
 * names (ORT's own plan's: q8 beside a q4 default); "—, —" without that row.
 */
function previousDefault(edge: BenchRow, other: BenchRow | undefined): string {
  if (!other) return both(edge, other);
  const pp = statsRatio(edge.pp_tok_s, other.pp_tok_s);
  const tgRatio = statsRatio(edge.tg_tok_s, other.tg_tok_s);
  const threads = other.threads > 0 ? `${other.threads}t` : 'auto threads';
  const range = roundRange(edge, other, (r) => r.tg_tok_s).replace(/^ \((.*)\)$/, '; $1');
  return `${times(pp)}, ${times(tgRatio)} (${other.dtype} ${threads}${range})`;
}

function ttft(row: BenchRow | undefined): string {
  return row?.ttft_ms ? row.ttft_ms.mean.toFixed(0) : '—';
}

/** The model, and the depth its rows ran at where that is not 0 (`--depth`: one line per depth). */
function modelCell(report: BenchReport, id: string, depth = 0): string {
  const facts = report.models.find((m) => m.id === id);
  const at = depth > 0 ? ` @ d${depth}` : '';
  if (!facts?.synthetic) return `${id}${at}`;
  return `${id}${at} (twin of ${facts.mirrors ?? 'no real model'}: random weights)`;
}

export function toSummaryMarkdown(reports: readonly BenchReport[]): string {
  const previous = reports.some((r) => comparedRows(r.rows).some((c) => c.ortWebPreviousDefault));
  // Since 'auto' the default row may be the CPU engine's or ORT-web's (before it, always ORT-web's):
  // where any report is that recent, each default cell says what ran; older ones alone read as before.
  const ran = reports.some((r) => r.rows.some((row) => row.runtime !== undefined));
  const lines = [
    `| model | load avg at start | edgetier default: tg tok/s | stock, same threads: tg tok/s | stock, defaults: tg tok/s | native, same dtype: tg tok/s | default / stock same threads: pp, tg | default / stock defaults: pp, tg | default / native same dtype: pp, tg | default / native fastest pp row | default / native fastest tg row | ${previous ? "default / ORT-web previous default (ORT's plan, same threads): pp, tg | " : ''}TTFT ms (pp N): default, stock same threads, stock defaults |`,
    `| --- | ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ${previous ? '---: | ' : ''}---: |`,
  ];
  let lowest: { ratio: number; model: string } | null = null;
  for (const report of reports) {
    const load = report.environment.load_average?.[0];
    for (const c of comparedRows(report.rows)) {
      const { edge } = c;
      const headline = statsRatio(edge.tg_tok_s, c.stockSameThreads?.tg_tok_s ?? null);
      if (headline !== null && (lowest === null || headline < lowest.ratio))
        lowest = { ratio: headline, model: c.model };
      const cells = [
        modelCell(report, c.model, rowDepth(edge)),
        load === undefined ? '—' : load.toFixed(2),
        tg(edge, ran),
        tg(c.stockSameThreads),
        tg(c.stockDefaults),
        tg(c.nativeSameDtype),
        both(edge, c.stockSameThreads),
        both(edge, c.stockDefaults),
        both(edge, c.nativeSameDtype),
        one(edge, c.nativeFastestPp, (r) => r.pp_tok_s),
        one(edge, c.nativeFastestTg, (r) => r.tg_tok_s),
        ...(previous ? [previousDefault(edge, c.ortWebPreviousDefault)] : []),
        `${ttft(edge)}, ${ttft(c.stockSameThreads)}, ${ttft(c.stockDefaults)} (pp ${report.params.pp})`,
      ];
      lines.push(`| ${cells.map(cell).join(' | ')} |`);
    }
    // A model whose default row failed has no ratios, but dropping it would hide the failure.
    for (const failed of report.rows.filter((r) => r.is_default && r.engine === 'edgetier' && r.error)) {
      if (
        comparedRows(report.rows).some(
          (c) => c.model === failed.model && rowDepth(c.edge) === rowDepth(failed),
        )
      )
        continue;
      const cells = [
        modelCell(report, failed.model, rowDepth(failed)),
        load === undefined ? '—' : load.toFixed(2),
        `edgetier default failed (${failed.error!.code}): ${failed.error!.message}`,
        ...Array<string>(previous ? 10 : 9).fill('—'),
      ];
      lines.push(`| ${cells.map(cell).join(' | ')} |`);
    }
  }
  if (lines.length === 2) return 'No report holds an edgetier default WASM row that ran.\n';
  const footer = lowest
    ? [
        ``,
        `Lowest edgetier default / stock (same threads) decode ratio: ${times(lowest.ratio)} (${lowest.model}).`,
      ]
    : [];
  return `${[...lines, ...footer].join('\n')}\n`;
}
