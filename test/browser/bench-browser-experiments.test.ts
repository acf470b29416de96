/**
 * The browser experiments (bench/experiments/browser-kernel-time.ts, browser-attention-threads.ts,
 * browser-depth-steps.ts) run as child processes, with real Chromium, on small sizes: each runs as
 * its header says to run it, and leaves nothing behind in the temporary folder.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCheckpoint } from '../helpers/checkpoints.ts';
import { convertQuietly } from '../helpers/converted-folders.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

let root: string;
let model: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'edgetier-bench-browser-'));
  const checkpoint = join(root, 'checkpoint');
  model = join(root, 'model');
  // browser-depth-steps' tokens are 500 and up: a vocabulary of 1024.
  await makeCheckpoint(checkpoint, { family: 'llama', vocabSize: 1024, maxPositionEmbeddings: 512 });
  await convertQuietly(checkpoint, model, 'q4');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Small runs of each script (seconds each). */
const SCRIPTS: [string, () => string[]][] = [
  ['browser-kernel-time.ts', () => ['--reps', '1', '--rounds', '1', '--context', '64', '--layers', '1']],
  [
    'browser-attention-threads.ts',
    () => ['--reps', '1', '--rounds', '1', '--context', '64', '--layers', '1'],
  ],
  ['browser-depth-steps.ts', () => ['--depths', '22', '--steps', '1', '--rounds', '1', model]],
];

/** The command line the script's header gives, up to the script's path. */
function headerCommand(script: string): string[] {
  const text = readFileSync(join(ROOT, 'bench', 'experiments', script), 'utf8');
  const line = text
    .split('\n')
    .find((l) => l.includes(`bench/experiments/${script}`) && /^\s*\*\s+(node|npx)\s/.test(l));
  if (!line) throw new Error(`${script}: no command in its header`);
  const words = line.replace(/^\s*\*\s*/, '').split(/\s+/);
  return words.slice(0, words.indexOf(`bench/experiments/${script}`));
}

describe('browser experiments', () => {
  it.each(SCRIPTS)(
    '%s runs with the command its header gives and leaves nothing in the temporary folder',
    async (script, args) => {
      const temp = mkdtempSync(join(root, 'tmp-'));
      const [command, ...rest] = headerCommand(script);
      const result = await run(
        command === 'node' ? process.execPath : command!,
        [...rest, `bench/experiments/${script}`, ...args()],
        {
          cwd: ROOT,
          timeout: 240_000,
          env: { ...process.env, TMPDIR: temp },
        },
      ).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/chromium/);
      // tsx keeps its compile cache there (tsx-<uid>); nothing else may be left.
      expect(readdirSync(temp).filter((name) => !name.startsWith('tsx-'))).toEqual([]);
    },
  );
});
