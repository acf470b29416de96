import type { Command } from '../command.ts';
import { benchCommand } from './bench.ts';
import { convertCommand } from './convert.ts';
import { generateCommand } from './generate.ts';
import { profileCommand } from './profile.ts';
import { serveCommand } from './serve.ts';
import { startCommand } from './start.ts';
import { synthCommand } from './synth.ts';

/** Every command, in the order `edgetier --help` lists them. */
export const commands: Command[] = [
  convertCommand,
  synthCommand,
  generateCommand,
  serveCommand,
  startCommand,
  benchCommand,
  profileCommand,
];
