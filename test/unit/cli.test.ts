import { describe, expect, it } from 'vitest';
import { edgetier } from '../helpers/run-cli.ts';

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
