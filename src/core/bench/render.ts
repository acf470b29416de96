/**
 * Renders a BenchReport as a Markdown table (llama-bench style: "mean ± sd"), CSV and an SVG bar
 * chart. Pure string building, no Node or DOM API: the CLI writes the files, the app shows and
 * downloads the same text.
 */
import { testName } from './depth.ts';
import {
  type BenchReport,
  type BenchRow,
  type BenchStats,
  depthRatios,
  ortWebPreviousDefault,
  rowDepth,
  rowLabel,
  stockSetup,
} from './schema.ts';
import { median } from './stats.ts';

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

export function formatStats(stats: BenchStats | null, digits = 2): string {
  if (!stats) return '—';
  // One value has no spread: "± 0.00" would claim a perfectly steady run.
  if (stats.n < 2) return `${fixed(stats.mean, digits)} (n = ${stats.n})`;
  return `${fixed(stats.mean, digits)} ± ${fixed(stats.sd, digits)}`;
}

function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : fixed(ms, 0);
}

function formatMiB(bytes: number | null): string {
  return bytes === null ? '—' : fixed(bytes / 1024 ** 2, 0);
}

/** Pipes and newlines would break a table cell. */
export function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function environmentLines(report: BenchReport): string[] {
  const e = report.environment;
  const gpu = e.webgpu
    ? `${e.webgpu.vendor} ${e.webgpu.architecture}${e.webgpu.is_fallback_adapter ? ' (software fallback adapter)' : ''}`
    : `none${e.webgpu_unavailable_reason ? ` (${e.webgpu_unavailable_reason})` : ''}`;
  const lines = [
    `- CPU: ${e.cpu_model ?? 'unknown'}, ${e.cpu_cores} logical cores; OS: ${e.os}`,
    `- Node ${e.node_version ?? '—'}; browser ${e.browser_version ?? '—'}; WebGPU adapter: ${gpu}`,
    `- onnxruntime-node ${e.onnxruntime_node_version ?? '—'}, onnxruntime-web ${e.onnxruntime_web_version ?? '—'}, ` +
      `transformers.js ${e.transformers_version ?? '—'}`,
  ];
  if (e.load_average)
    lines.push(`- load average at start: ${e.load_average.map((v) => fixed(v, 2)).join(', ')}`);
  for (const m of report.models) {
    lines.push(
      `- model ${cell(m.id)}${m.synthetic ? `: synthetic shape twin${m.mirrors ? ` of ${m.mirrors}` : ''} (random weights; speed is real)` : ''}`,
    );
  }
  return lines;
}

/** "; tg by round: 1.41×, 1.52×, 1.47× (median 1.47×)", or nothing without rounds. */
function byRound(metric: 'pp' | 'tg', ratios: number[] | null | undefined): string {
  if (!ratios || ratios.length < 2) return '';
  return `; ${metric} by round: ${ratios.map((r) => `${fixed(r, 2)}×`).join(', ')} (median ${fixed(median(ratios), 2)}×)`;
}

function times(value: number | null): string {
  return value === null ? '—' : `${fixed(value, 2)}×`;
}

/**
 * The warm-up as it ran: "1 warm-up", or under a time floor "at least 1 warm-up run and 2 s of
 * warm-up (1-5 runs per row; …)", since a fast row then ran many more than `warmup`.
 */
function warmupText(report: BenchReport): string {
  const { warmup, warmup_s: seconds } = report.params;
  if (!(warmup > 0 && seconds && seconds > 0)) return `${warmup} warm-up`;
  const runs = report.rows.flatMap((r) => r.warmup_runs ?? []);
  const range = runs.length > 0 ? `${Math.min(...runs)}-${Math.max(...runs)} runs per row; ` : '';
  return (
    `at least ${warmup} warm-up run${warmup > 1 ? 's' : ''} and ${seconds} s of warm-up ` +
    `(${range}warmup_runs in bench.json)`
  );
}

/** The report has rows at a depth > 0 (`--depth`): its tables name each row's tests. */
function hasDepth(report: BenchReport): boolean {
  return report.rows.some((r) => rowDepth(r) > 0);
}

/** A row's tests, llama-bench style: "pp22 @ d2000, tg32 @ d2000" ("pp22, tg32" at depth 0). */
function rowTests(report: BenchReport, row: BenchRow): string {
  const { pp, tg } = report.params;
  const depth = rowDepth(row);
  return [pp > 0 ? testName('pp', pp, depth) : '', tg > 0 ? testName('tg', tg, depth) : '']
    .filter(Boolean)
    .join(', ');
}

/** The default row's note: what 'auto' ran, where the row says it ran 'auto'. */
function defaultNote(row: BenchRow): string {
  return row.runtime === 'auto' ? `edgetier default (auto ran ${row.ort_build})` : 'edgetier default';
}

/**
 * The ORT-web rows that are a default row's previous default: the marked row (ORT's own plan's dtype,
 * at the default row's threads), or in reports without the mark ORT-web on its dtype and threads.
 */
function previousDefaultRows(rows: readonly BenchRow[]): Set<BenchRow> {
  const out = new Set<BenchRow>();
  for (const edge of rows.filter((r) => r.is_default && r.engine === 'edgetier')) {
    const previous = ortWebPreviousDefault(rows, edge);
    if (previous) out.add(previous);
  }
  return out;
}

export function toMarkdown(report: BenchReport): string {
  const { pp, tg, reps } = report.params;
  const depths = hasDepth(report);
  const rounds = report.params.rounds ?? 1;
  const warmup = warmupText(report);
  const method =
    rounds > 1
      ? `${reps} repetitions in ${rounds} rounds (the rows take turns; ${warmup} per row and round; ` +
        `every row runs the same repetitions in every round), mean ± sd.`
      : `${reps} repetitions after ${warmup}, mean ± sd.`;
  const header = [
    'model',
    'engine',
    'device',
    'dtype',
    'threads',
    'ORT build',
    ...(depths ? ['tests'] : []),
    `pp${pp} tok/s`,
    `tg${tg} tok/s`,
    'TTFT ms',
    'load cold / warm ms',
    'peak MiB',
    'note',
  ];
  const lines = [
    `# edgetier bench`,
    '',
    `\`${report.command}\` — ${report.created_at}; ${method}`,
    '',
    ...environmentLines(report),
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map((h, i) => (i >= 4 && i <= header.length - 2 && h !== 'tests' ? '---:' : '---')).join(' | ')} |`,
  ];
  const previousDefaults = previousDefaultRows(report.rows);
  for (const row of report.rows) {
    const load = row.load ? `${formatMs(row.load.cold_ms)} / ${formatMs(row.load.warm_ms)}` : '—';
    const note = row.error
      ? `error (${row.error.code}): ${row.error.message}`
      : [
          row.is_default ? defaultNote(row) : '',
          previousDefaults.has(row) ? 'ORT-web (previous default)' : '',
          row.note ?? '',
        ]
          .filter(Boolean)
          .join('; ');
    lines.push(
      `| ${[
        row.model,
        stockSetup(row) ? `${row.engine} (${stockSetup(row)})` : row.engine,
        row.device,
        row.dtype,
        row.threads > 0 ? String(row.threads) : 'auto',
        row.ort_build,
        ...(depths ? [rowTests(report, row)] : []),
        formatStats(row.pp_tok_s),
        formatStats(row.tg_tok_s),
        row.ttft_ms ? fixed(row.ttft_ms.mean, 0) : '—',
        load,
        formatMiB(row.peak_memory_bytes),
        note,
      ]
        .map(cell)
        .join(' | ')} |`,
    );
  }
  if (report.ratios.length > 0) {
    lines.push('', '## Ratios', '');
    // With several models the row labels (which leave the model out) would read alike.
    const manyModels = new Set(report.ratios.map((r) => r.model)).size > 1;
    for (const r of report.ratios) {
      // A ratio against native's fastest row states one metric only: the other is another row's.
      const metrics = [r.pp === null && r.label.endsWith('(tg only)') ? '' : `pp ${times(r.pp)}`]
        .concat(r.tg === null && r.label.endsWith('(pp only)') ? '' : `tg ${times(r.tg)}`)
        .filter(Boolean)
        .join(', ');
      lines.push(
        `- ${r.label}${manyModels && r.model ? ` (${r.model})` : ''}: ${metrics} (${r.numerator} against ${r.denominator})` +
          `${byRound('pp', r.pp_by_round)}${byRound('tg', r.tg_by_round)}`,
      );
    }
  }
  const slowdowns = depthRatios(report.rows);
  if (slowdowns.length > 0) {
    lines.push('', '## Depth', '', 'Each row at a depth against the same configuration at depth 0:', '');
    for (const d of slowdowns) {
      const depth = rowDepth(d.row);
      const metrics = [
        tg > 0 ? `${testName('tg', tg, depth)} / ${testName('tg', tg)} ${times(d.tg)}` : '',
        pp > 0 ? `${testName('pp', pp, depth)} / ${testName('pp', pp)} ${times(d.pp)}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      lines.push(`- ${rowLabel(d.base)}: ${metrics}${byRound('tg', d.tg_by_round)}`);
    }
  }
  if (report.notes.length > 0) lines.push('', '## Notes', '', ...report.notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}

const CSV_HEADER = [
  'model',
  'engine',
  'device',
  'dtype',
  'threads',
  'ort_build',
  'is_default',
  'pp_tokens',
  'pp_tok_s_mean',
  'pp_tok_s_sd',
  'tg_tokens',
  'tg_tok_s_mean',
  'tg_tok_s_sd',
  'ttft_ms_mean',
  'ttft_ms_sd',
  'reps',
  'load_cold_ms',
  'load_warm_ms',
  'peak_memory_bytes',
  'error',
  'setup',
];

/** The CSV's last columns when the report has depth rows (a depth-0 report keeps its columns). */
const CSV_DEPTH_HEADER = ['depth', 'pp_test', 'tg_test'];

/** The very last column when a row says its runtime (reports written before it keep their columns). */
const CSV_RUNTIME_HEADER = ['runtime'];

/** After it, when a row is marked the previous default (reports written before the mark keep theirs). */
const CSV_PREVIOUS_DEFAULT_HEADER = ['previous_default'];

function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  // A text field starting with = + - @ (or a tab or CR) is a formula to a spreadsheet: a model
  // folder's name or an error message must not become one, so it gets a leading apostrophe.
  const text = typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(report: BenchReport): string {
  const depths = hasDepth(report);
  const runtimes = report.rows.some((r) => r.runtime !== undefined);
  const marked = report.rows.some((r) => r.previous_default !== undefined);
  const rows = report.rows.map((r: BenchRow) =>
    [
      r.model,
      r.engine,
      r.device,
      r.dtype,
      r.threads,
      r.ort_build,
      r.is_default,
      report.params.pp,
      r.pp_tok_s?.mean,
      r.pp_tok_s?.sd,
      report.params.tg,
      r.tg_tok_s?.mean,
      r.tg_tok_s?.sd,
      r.ttft_ms?.mean,
      r.ttft_ms?.sd,
      // The repetitions this row actually ran (a row budget can cut them).
      r.error ? null : (r.tg_tok_s?.n ?? r.pp_tok_s?.n ?? report.params.reps),
      r.load?.cold_ms,
      r.load?.warm_ms,
      r.peak_memory_bytes,
      r.error ? `${r.error.code}: ${r.error.message}` : null,
      stockSetup(r),
      ...(depths
        ? [
            rowDepth(r),
            report.params.pp > 0 ? testName('pp', report.params.pp, rowDepth(r)) : null,
            report.params.tg > 0 ? testName('tg', report.params.tg, rowDepth(r)) : null,
          ]
        : []),
      ...(runtimes ? [r.runtime] : []),
      ...(marked ? [r.previous_default === true] : []),
    ]
      .map(csvField)
      .join(','),
  );
  const header = [
    ...CSV_HEADER,
    ...(depths ? CSV_DEPTH_HEADER : []),
    ...(runtimes ? CSV_RUNTIME_HEADER : []),
    ...(marked ? CSV_PREVIOUS_DEFAULT_HEADER : []),
  ];
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CHART = { labelWidth: 300, panelWidth: 260, gap: 40, rowHeight: 22, top: 48, bottom: 16 } as const;

/**
 * Two panels side by side (pp tok/s, tg tok/s), one bar per row with a ±sd whisker, each panel on
 * its own scale (prefill runs many times faster than decode). Failed rows show their error code.
 */
export function toSvg(report: BenchReport): string {
  const { labelWidth, panelWidth, gap, rowHeight, top, bottom } = CHART;
  const width = labelWidth + 2 * panelWidth + gap + 20;
  const height = top + report.rows.length * rowHeight + bottom;
  const panels = [
    { title: `pp${report.params.pp} tok/s`, pick: (r: BenchRow) => r.pp_tok_s, x: labelWidth },
    {
      title: `tg${report.params.tg} tok/s`,
      pick: (r: BenchRow) => r.tg_tok_s,
      x: labelWidth + panelWidth + gap,
    },
  ];
  const out = [
    // The title is the first child, with no text node before it, so screen readers (and Biome's
    // a11y lint) find it.
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11"><title>edgetier bench: tokens/s per configuration</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="8" y="16" font-size="13" font-weight="bold">${escapeXml(`edgetier bench: mean ± sd over up to ${report.params.reps} reps (n per row in bench.md)`)}</text>`,
  ];
  report.rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const label = `${rowLabel(row)}${row.is_default ? ' *' : ''}`;
    out.push(`<text x="8" y="${y + 14}">${escapeXml(label)}</text>`);
  });
  for (const panel of panels) {
    const max = Math.max(0, ...report.rows.map((r) => (panel.pick(r)?.mean ?? 0) + (panel.pick(r)?.sd ?? 0)));
    const scale = max > 0 ? (panelWidth - 50) / max : 0;
    out.push(`<text x="${panel.x}" y="${top - 10}" font-weight="bold">${escapeXml(panel.title)}</text>`);
    out.push(
      `<line x1="${panel.x}" y1="${top - 4}" x2="${panel.x}" y2="${height - bottom}" stroke="#888888"/>`,
    );
    report.rows.forEach((row, i) => {
      const y = top + i * rowHeight;
      const stats = panel.pick(row);
      if (!stats) {
        const why = row.error ? `error: ${row.error.code}` : 'not run';
        out.push(`<text x="${panel.x + 4}" y="${y + 14}" fill="#b00020">${escapeXml(why)}</text>`);
        return;
      }
      const w = (stats.mean * scale).toFixed(1);
      const fill =
        row.engine === 'edgetier'
          ? row.is_default
            ? '#1f6feb'
            : '#6ea8fe'
          : row.engine === 'native'
            ? '#2da44e'
            : '#d4a72c';
      out.push(`<rect x="${panel.x}" y="${y + 4}" width="${w}" height="${rowHeight - 8}" fill="${fill}"/>`);
      const lo = (Math.max(0, stats.mean - stats.sd) * scale + panel.x).toFixed(1);
      const hi = ((stats.mean + stats.sd) * scale + panel.x).toFixed(1);
      out.push(
        `<line x1="${lo}" y1="${y + rowHeight / 2}" x2="${hi}" y2="${y + rowHeight / 2}" stroke="#000000"/>`,
      );
      const tx = ((stats.mean + stats.sd) * scale + panel.x + 4).toFixed(1);
      out.push(`<text x="${tx}" y="${y + 14}">${fixed(stats.mean, 1)}</text>`);
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
