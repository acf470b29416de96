import { openCheckpoint } from '../../builder/checkpoint.ts';
import { buildModelFolder, parseDtypeList, summarise } from '../../builder/model-folder.ts';
import { planOutDir } from '../../builder/out-dir.ts';
import { DTYPES, type Dtype } from '../../core/dtypes.ts';
import { EdgetierError } from '../../core/errors.ts';
import { parseCommandArgs } from '../args.ts';
import type { Command } from '../command.ts';

/** fp32 reproduces the checkpoint exactly; q4 is what a browser should download. */
export const DEFAULT_CONVERT_DTYPES: readonly Dtype[] = ['fp32', 'q4'];

const help = `
Usage: edgetier convert <checkpoint-dir> --out <model-dir> [options]

Converts a Hugging Face checkpoint (config.json, model.safetensors or sharded
model-0000N-of-0000M.safetensors + model.safetensors.index.json, F32/F16/BF16 tensors, and its
tokenizer files) into a folder @huggingface/transformers loads: config.json, generation_config.json,
tokenizer.json, tokenizer_config.json and onnx/<one model per dtype>. Families: llama (SmolLM2,
Llama 3.x with llama3 rope scaling, as rope_scaling or rope_parameters), qwen2 (Qwen2/2.5), qwen3
(with its sliding window). A config.json field edgetier cannot reproduce exactly is refused by
name. No Python needed.

The checkpoint is validated whole before anything is written. The folder is built under a
temporary name and put in place at the end: a failed build leaves nothing behind. Every model
folder holds a .edgetier-model file listing the files edgetier wrote.

Options:
  --out <dir>       Where to write the model folder (required).
  --dtype <list>    Comma-separated weight formats to build, from ${DTYPES.join(', ')}.
                    Default: ${DEFAULT_CONVERT_DTYPES.join(',')}. fp32 -> onnx/model.onnx, fp16 -> model_fp16.onnx,
                    q8 -> model_quantized.onnx, q4 -> model_q4.onnx (MatMulNBits, block 32),
                    q4f16 -> model_q4f16.onnx.
  --force           Replace <dir> if it is a model folder edgetier built (it has .edgetier-model)
                    and holds nothing else, none of its files edited since. Never anything else.
                    Default: refuse a non-empty <dir>.
  --verbose         Print the stack trace of an error.
  -h, --help        Show this help.

Example:
  edgetier convert ./SmolLM2-135M-Instruct --out models/smollm2-135m --dtype fp32,q4
`;

export const convertCommand: Command = {
  name: 'convert',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs('convert', args, {
      out: { type: 'string' },
      dtype: { type: 'string' },
      force: { type: 'boolean', default: false },
    });
    if (positionals.length !== 1) {
      throw new EdgetierError('usage', 'give exactly one checkpoint folder. Run `edgetier convert --help`.');
    }
    const checkpointDir = positionals[0] as string;
    if (!values.out)
      throw new EdgetierError('usage', '--out <model-dir> is required. Run `edgetier convert --help`.');
    const dtypes = parseDtypeList(values.dtype, DEFAULT_CONVERT_DTYPES);
    const progress = (line: string) => process.stderr.write(`${line}\n`);
    // Every refusal about --out comes before the checkpoint is read, and nothing is written before
    // the checkpoint has been validated whole.
    const plan = planOutDir(values.out, {
      force: values.force,
      protect: checkpointDir,
      onProgress: progress,
    });

    const checkpoint = await openCheckpoint(checkpointDir);
    const s = checkpoint.spec;
    progress(
      `read ${checkpointDir}: ${s.family}, ${s.numLayers} layers, hidden ${s.hiddenSize}, heads ${s.numHeads}/${s.numKvHeads}, ` +
        `vocab ${s.vocabSize}, ${s.tieWordEmbeddings ? 'tied' : 'untied'} head`,
    );
    const result = await buildModelFolder({
      spec: checkpoint.spec,
      weights: checkpoint.weights,
      hfConfig: checkpoint.hfConfig,
      tokenizer: checkpoint.tokenizer,
      dtypes,
      outDir: values.out,
      provenance: { synthetic: false, source: checkpointDir },
      plan,
      onProgress: progress,
    });
    process.stdout.write(`${summarise(result)}\n`);
    return 0;
  },
};
