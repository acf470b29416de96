import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = new URL('../../bin/edgetier.mjs', import.meta.url).pathname;

async function edgetier(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('edgetier CLI', () => {
  it('lists its commands with --help', async () => {
    const result = await edgetier('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: edgetier <command> [options]');
  });

  it('refuses an unknown command with one line and exit code 2', async () => {
    const result = await edgetier('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'edgetier: unknown command "frobnicate". Run `edgetier --help` for the list.\n',
    );
  });
});
