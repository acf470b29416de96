import type { Command } from '../command.ts';

/** Every command, in the order `edgetier --help` lists them. */
export const commands: Command[] = [];
