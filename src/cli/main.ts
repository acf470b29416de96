/**
 * The `edgetier` command line. Each command lives in its own module under ./commands with its help
 * text and a `run` function; the registry in ./commands/index.ts names it and loads it on demand. Errors reach the user as one line
 * on stderr and a non-zero exit; `--verbose` adds the stack.
 */
import { EdgetierError } from '../core/errors.ts';
import type { CommandEntry } from './command.ts';
import { commands } from './commands/index.ts';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: edgetier <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `edgetier <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 1;
  }
  const entry: CommandEntry | undefined = commands.find((c) => c.name === name);
  if (!entry) {
    process.stderr.write(`edgetier: unknown command "${name}". Run \`edgetier --help\` for the list.\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.help.trim()}\n`);
    return 0;
  }
  try {
    return (await command.run(rest.filter((a) => a !== '--verbose'))) ?? 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof EdgetierError ? error.code : 'internal';
    process.stderr.write(`edgetier ${command.name}: ${message}\n`);
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return code === 'usage' ? 2 : 1;
  }
}
