export interface Command {
  /** The word after `edgetier`. */
  name: string;
  /** The full text of `edgetier <name> --help`: every option with its default. */
  help: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: string[]): Promise<number | undefined>;
}

/** A registry entry: what `edgetier --help` lists, and how to load the command itself. */
export interface CommandEntry {
  name: string;
  /** One line for `edgetier --help`. */
  summary: string;
  load(): Promise<Command>;
}
