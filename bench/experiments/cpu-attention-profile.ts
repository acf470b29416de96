/**
 * Where the int8 attention's time goes: builds cut-down copies of src/cpu-engine/kernels/kernels.ts,
 * each stopping attendSegmentI8 one stage later, times them with browser-kernel-time.ts (Node and
 * headless Chromium, the engine's threaded relaxed-SIMD build, rows in turns) and prints each stage's
 * cost as the difference of consecutive cuts (medians and minima, wall ms a sweep of every layer):
 *
 *   setup      the unit's touch burst (touchUnit) and the queries' int16 codes; return
 *   + scores   the keys' integer dots (scoreHeads' inner loop) and their scaling into scores
 *   + softmax  the segment's maximum, exp and sum (segmentSoftmax)
 *   + pack     the weights times value scales as int16 codes (packWeights), values loop with no rows
 *   full       + the values' integer dots (weightedValuesHeads' inner loop): the engine's kernel
 *
 *   node --experimental-wasm-relaxed-simd --import tsx bench/experiments/cpu-attention-profile.ts
 *     [--context 2000 --chunk 512 --hot --reps 10 --rounds 5 ...: passed to browser-kernel-time.ts]
 *
 * The cuts are made on the source text; a cut whose anchor is not found stops the script (the kernel
 * changed: update the anchors). A cut kernel's outputs are wrong by design; only its time matters.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const kernelsDir = join(root, 'src', 'cpu-engine', 'kernels');
const source = readFileSync(join(kernelsDir, 'kernels.ts'), 'utf8');

/** source with `anchor` (found exactly once) replaced by `by`. */
function cut(text: string, anchor: string, by: string, name: string): string {
  const at = text.indexOf(anchor);
  if (by === anchor) throw new Error(`cut ${name}: its replacement is its anchor (the cut would do nothing)`);
  if (at < 0 || text.indexOf(anchor, at + 1) >= 0)
    throw new Error(`cut ${name}: its anchor is not found once in kernels.ts`);
  return text.slice(0, at) + by + text.slice(at + anchor.length);
}

const QUERY_CODES = `    store<f32>(rec, quantizeQuery(rec + 16, q + <usize>(h0 + j) * headBytes, d), 12);
  }
`;
const SOFTMAX =
  '  segmentSoftmax(partials, scores, scoreBytes, n, h0, m, s, rowBytes, recordBytes, headBytes, true);\n';
const VALUE_ROWS = '    for (let r = 0; r < rows; r++, vp += <usize>d << 1) {';

// `n > 0` rather than `true`: a return the compiler cannot see through keeps the code after it built.
const stages: [string, string][] = [
  ['setup', cut(source, QUERY_CODES, `${QUERY_CODES}  if (n > 0) return;\n`, 'setup')],
  ['scores', cut(source, SOFTMAX, `  if (n > 0) return;\n${SOFTMAX}`, 'scores')],
  ['softmax', cut(source, SOFTMAX, `${SOFTMAX}  if (n > 0) return;\n`, 'softmax')],
  ['pack', cut(source, VALUE_ROWS, VALUE_ROWS.replace('r < rows', 'r < 0'), 'pack')],
];

// The variants must sit beside kernels.ts (their imports resolve there); removed however the run ends.
const dir = mkdtempSync(join(kernelsDir, 'zz-profile-'));
try {
  const files = stages.map(([name, text]) => {
    const file = join(dir, `${name}.ts`);
    writeFileSync(file, text.replaceAll("from './shared'", "from '../shared'"));
    return file;
  });
  const output = execFileSync(
    process.execPath,
    [
      '--experimental-wasm-relaxed-simd',
      '--import',
      'tsx',
      join(root, 'bench', 'experiments', 'browser-kernel-time.ts'),
      ...process.argv.slice(2),
      // Last, so that it wins over a --kernel among the arguments: only the attention is cut.
      '--kernel',
      'attention',
      ...files.map((f) => relative(root, f)),
    ],
    { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  process.stdout.write(output);
  // Rows: "  engine, node   min 3.17  median 4.54", "  setup.ts, chromium ...".
  const row = new Map<string, { min: number; median: number }>();
  for (const m of output.matchAll(/^ {2}(\S+), (node|chromium)\s+min ([\d.]+)\s+median ([\d.]+)$/gm))
    row.set(`${m[1]!.replace(/\.ts$/, '')} ${m[2]}`, { min: Number(m[3]), median: Number(m[4]) });
  const order = ['setup', 'scores', 'softmax', 'pack', 'engine'];
  const label: Record<string, string> = {
    setup: 'touch + query codes',
    scores: 'score dots + scaling',
    softmax: 'max, exp, sum',
    pack: 'weight codes',
    engine: 'value dots',
  };
  for (const runtime of ['node', 'chromium']) {
    console.log(`\nstages, ${runtime} (each the cut after it minus the cut before; ms a sweep):`);
    let before = { min: 0, median: 0 };
    for (const name of order) {
      const now = row.get(`${name} ${runtime}`);
      if (!now) throw new Error(`no ${name} row for ${runtime} in browser-kernel-time.ts's output`);
      const stage = label[name]!.padEnd(22);
      console.log(
        `  ${stage} median ${(now.median - before.median).toFixed(2)}  min ${(now.min - before.min).toFixed(2)}`,
      );
      before = now;
    }
    console.log(
      `  ${'whole kernel'.padEnd(22)} median ${before.median.toFixed(2)}  min ${before.min.toFixed(2)}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
