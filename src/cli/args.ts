import { type ParseArgsConfig, parseArgs } from 'node:util';
import { EdgetierError } from '../core/errors.ts';

/** `util.parseArgs` with strict checking, whose errors become one-line usage errors. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new EdgetierError('usage', `${message}. Run \`edgetier ${command} --help\`.`);
  }
}

export function parseIntegerOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  // Number('') and Number(' ') are 0: a blank value would pass as 0 (for --threads, the engine's choice).
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new EdgetierError('usage', `--${name} must be a non-negative integer, got "${value}".`);
  }
  return n;
}
