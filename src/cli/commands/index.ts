import type { Command } from '../command.ts';
import { generateCommand } from './generate.ts';

/** Every command, in the order `edgetier --help` lists them. */
export const commands: Command[] = [generateCommand];
