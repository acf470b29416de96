import { formatBytes, parseDtypeList, summarise } from '../../builder/model-folder.ts';
import { DEFAULT_SYNTH_DTYPES, DEFAULT_SYNTH_SEED, PRESETS, synthPreset } from '../../builder/synth.ts';
import { DTYPES } from '../../core/dtypes.ts';
import { EdgetierError } from '../../core/errors.ts';
import { parseCommandArgs, parseIntegerOption } from '../args.ts';
import type { Command } from '../command.ts';

function presetTable(): string {
  const width = Math.max(...PRESETS.map((p) => p.name.length));
  return PRESETS.map((p) => {
    const params =
      p.parameterCount >= 1e9
        ? `${(p.parameterCount / 1e9).toFixed(2)}B`
        : `${(p.parameterCount / 1e6).toFixed(1)}M`;
    const fp32 = formatBytes(p.parameterCount * 4);
    return `  ${p.name.padEnd(width)}  ${params.padStart(6)} params (fp32 ~${fp32}), ${p.family}, context ${p.contextLength}, mirrors ${p.mirrors}`;
  }).join('\n');
}

const help = `
Usage: edgetier synth <preset> --out <model-dir> [options]

Builds a "shape twin": a model folder with the exact shapes of a real small model and seeded random
weights, through the same builder as \`edgetier convert\`. Its text is noise, its size and speed are
real. config.json carries {"edgetier": {"synthetic": true, "mirrors": ..., "seed": ...}} so every
screen and report can label it.

Presets:
${presetTable()}

Options:
  --out <dir>       Where to write the model folder (required).
  --dtype <list>    Comma-separated weight formats, from ${DTYPES.join(', ')}. Default: ${DEFAULT_SYNTH_DTYPES.join(',')}.
  --seed <n>        Seed of the random weights (0 to 4294967295). Default: ${DEFAULT_SYNTH_SEED}.
                    The same seed rebuilds the same weights.
  --force           Replace <dir> if it is a model folder edgetier built (it has .edgetier-model)
                    and holds nothing else, none of its files edited since. Never anything else.
                    Default: refuse a non-empty <dir>.
  --verbose         Print the stack trace of an error.
  -h, --help        Show this help.

Example:
  edgetier synth smollm2-135m --out models/smollm2-135m-twin --dtype q4
`;

export const synthCommand: Command = {
  name: 'synth',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('synth', args, {
      out: { type: 'string' },
      dtype: { type: 'string' },
      seed: { type: 'string' },
      force: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) {
      throw new EdgetierError(
        'usage',
        `give exactly one preset, from ${PRESETS.map((p) => p.name).join(', ')}. Run \`edgetier synth --help\`.`,
      );
    }
    if (!values.out)
      throw new EdgetierError('usage', '--out <model-dir> is required. Run `edgetier synth --help`.');
    const dtypes = parseDtypeList(values.dtype, DEFAULT_SYNTH_DTYPES);
    const seed = parseIntegerOption('seed', values.seed, DEFAULT_SYNTH_SEED);
    const result = await synthPreset(positionals[0] as string, values.out, {
      dtypes,
      seed,
      force: values.force,
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${summarise(result)}\n`);
    return 0;
  },
};
