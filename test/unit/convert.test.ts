import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync } from 'node:fs';
import {
  link,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, type Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../src/builder/hf-config.ts';
import { buildModelFolder } from '../../src/builder/model-folder.ts';
import { BUILD_MARKER, describeFsError, MODEL_MARKER, planOutDir } from '../../src/builder/out-dir.ts';
import { tinyTokenizer } from '../../src/builder/preset-tokenizers.ts';
import { SafetensorsWeights, writeSafetensors } from '../../src/builder/safetensors.ts';
import type { WeightSource } from '../../src/builder/weights.ts';
import { EdgetierError } from '../../src/core/errors.ts';
import { type CheckpointOptions, makeCheckpoint } from '../helpers/checkpoints.ts';
import { edgetier } from '../helpers/run-cli.ts';

let root: string;
let count = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-convert-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh checkpoint folder and a fresh, empty parent for the output. */
async function fixture(options: Partial<CheckpointOptions> = {}) {
  const n = count++;
  const checkpoint = await makeCheckpoint(join(root, `ck${n}`), { family: 'llama', ...options });
  const outParent = join(root, `out${n}`);
  await mkdir(outParent);
  return { ...checkpoint, out: join(outParent, 'model'), outParent };
}

/** Runs convert and checks that it failed with exactly `message` and left nothing on disk. */
async function expectRefusal(
  dir: string,
  outParent: string,
  message: string,
  extra: string[] = [],
  exitCode = 1,
): Promise<void> {
  const result = await edgetier(
    'convert',
    dir,
    '--out',
    join(outParent, 'model'),
    '--dtype',
    'fp32',
    ...extra,
  );
  expect(result.stderr).toBe(`edgetier convert: ${message}\n`);
  expect(result.code).toBe(exitCode);
  expect(result.stdout).toBe('');
  expect(await readdir(outParent)).toEqual([]);
}

describe('edgetier convert refuses bad input with one line and leaves nothing behind', () => {
  it('a folder without config.json', async () => {
    const f = await fixture();
    await rm(join(f.dir, 'config.json'));
    await expectRefusal(
      f.dir,
      f.outParent,
      `no config.json in ${f.dir}: a Hugging Face checkpoint folder holds config.json next to its weights.`,
    );
  });

  it('a folder without weights', async () => {
    const f = await fixture();
    await rm(join(f.dir, 'model.safetensors'));
    await expectRefusal(
      f.dir,
      f.outParent,
      `no weights in ${f.dir}: expected model.safetensors or model.safetensors.index.json with its shards.`,
    );
  });

  it('a sharded checkpoint with a shard missing', async () => {
    const f = await fixture({ sharded: true });
    await rm(join(f.dir, 'model-00002-of-00002.safetensors'));
    await expectRefusal(
      f.dir,
      f.outParent,
      `model.safetensors.index.json lists model-00002-of-00002.safetensors, which is not in ${f.dir}. Download every shard.`,
    );
  });

  it('a truncated safetensors file', async () => {
    const f = await fixture();
    const file = join(f.dir, 'model.safetensors');
    const size = (await stat(file)).size;
    await truncate(file, size - 1000);
    // The header is intact, so the reader can name the first tensor that runs past the end.
    const handle = await open(file, 'r');
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    const headerLength = Number(head.readBigUInt64LE(0));
    const json = Buffer.alloc(headerLength);
    await handle.read(json, 0, headerLength, 8);
    await handle.close();
    const header = JSON.parse(json.toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
    const [name, entry] = Object.entries(header).find(
      ([n, e]) => n !== '__metadata__' && 8 + headerLength + e.data_offsets[1] > size - 1000,
    )!;
    await expectRefusal(
      f.dir,
      f.outParent,
      `model.safetensors is not a valid safetensors file: ${name} ends at byte ${8 + headerLength + entry.data_offsets[1]} but the file has ${size - 1000} (truncated?). Download or export it again.`,
    );
  });

  it('a safetensors file whose header is garbage', async () => {
    const f = await fixture();
    const file = join(f.dir, 'model.safetensors');
    const size = (await stat(file)).size;
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]), 0, 8, 0);
    await handle.close();
    await expectRefusal(
      f.dir,
      f.outParent,
      `model.safetensors is not a valid safetensors file: its header claims 2147483647 bytes but the file has ${size - 8}. Download or export it again.`,
    );
  });

  it('an unsupported model_type, naming the supported ones', async () => {
    const f = await fixture({ configOverrides: { model_type: 'mistral' } });
    await expectRefusal(
      f.dir,
      f.outParent,
      'config.json has model_type "mistral"; edgetier supports llama, qwen2, qwen3.',
    );
  });

  it('a tensor whose shape contradicts config.json, naming the tensor and both shapes', async () => {
    const f = await fixture({ configOverrides: { intermediate_size: 96 } });
    await expectRefusal(
      f.dir,
      f.outParent,
      'tensor model.layers.0.mlp.gate_proj.weight has shape [128, 64] but config.json implies [96, 64].',
    );
  });

  it('a tensor config.json calls for but the checkpoint lacks', async () => {
    const f = await fixture({ tied: true, configOverrides: { tie_word_embeddings: false } });
    await expectRefusal(
      f.dir,
      f.outParent,
      'the checkpoint has no tensor lm_head.weight, which config.json calls for (config.json says tie_word_embeddings is false).',
    );
  });

  it('an unknown --dtype, listing the valid ones', async () => {
    const f = await fixture();
    await expectRefusal(f.dir, f.outParent, 'unknown dtype "q3"; choose from fp32, fp16, q8, q4, q4f16.', [
      '--dtype',
      'fp32,q3',
    ]);
  });

  it('a missing --out (usage error, exit code 2)', async () => {
    const f = await fixture();
    const result = await edgetier('convert', f.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'edgetier convert: --out <model-dir> is required. Run `edgetier convert --help`.\n',
    );
  });

  it('a non-empty output folder without --force', async () => {
    const f = await fixture();
    await mkdir(f.out);
    await writeFile(join(f.out, 'keep.txt'), 'mine');
    const result = await edgetier('convert', f.dir, '--out', f.out);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out} already exists and is not empty; pass --force to replace it, or choose another --out.\n`,
    );
    expect(await readdir(f.out)).toEqual(['keep.txt']);
  });

  it('a tokenizer.json that cannot be read is refused before anything is written', async () => {
    const f = await fixture();
    await rm(join(f.dir, 'tokenizer.json'));
    await mkdir(join(f.dir, 'tokenizer.json'));
    await expectRefusal(
      f.dir,
      f.outParent,
      `cannot read ${join(f.dir, 'tokenizer.json')}: EISDIR: illegal operation on a directory, read`,
    );
  });
});

type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;

/** Rewrites a safetensors file's JSON header (and optionally appends raw bytes to its data). */
async function rewriteHeader(file: string, edit: (header: Header) => void, append?: Uint8Array) {
  const bytes = await readFile(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Header;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const data = bytes.subarray(8 + headerLength);
  await writeFile(file, Buffer.concat([head, json, data, append ?? new Uint8Array(0)]));
}

/** Overwrites element `index` of a tensor with raw little-endian bits of its dtype's width. */
async function pokeTensor(file: string, name: string, index: number, bits: number) {
  const bytes = await readFile(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Header;
  const entry = header[name]!;
  const width = entry.dtype === 'F32' ? 4 : 2;
  const at = 8 + headerLength + entry.data_offsets[0] + index * width;
  if (width === 4) bytes.writeUInt32LE(bits, at);
  else bytes.writeUInt16LE(bits, at);
  await writeFile(file, bytes);
}

const LFS_POINTER =
  'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 2776833\n';

describe('edgetier convert validates the checkpoint whole before writing (issue 17, items 4-7, 9, minors)', () => {
  it("refuses a tokenizer with more ids than config.json's vocab_size (item 4)", async () => {
    const f = await fixture();
    const file = join(f.dir, 'tokenizer.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    json.added_tokens.push({
      id: 400,
      content: '<|extra|>',
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    });
    await writeFile(file, JSON.stringify(json));
    await expectRefusal(
      f.dir,
      f.outParent,
      "tokenizer.json has token ids up to 400, but config.json's vocab_size (the rows of the embedding) is 384: the tokenizer belongs to another model. Use the checkpoint's own tokenizer files.",
    );
  });

  it('refuses a tokenizer.json that is a git-lfs pointer (item 5)', async () => {
    const f = await fixture();
    await writeFile(join(f.dir, 'tokenizer.json'), LFS_POINTER);
    await expectRefusal(
      f.dir,
      f.outParent,
      'tokenizer.json is a git-lfs pointer, not the file itself: run `git lfs pull` in the checkpoint folder (or download tokenizer.json directly).',
    );
  });

  it('refuses a truncated tokenizer.json (item 5)', async () => {
    const f = await fixture();
    const file = join(f.dir, 'tokenizer.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.length / 2));
    await expectRefusal(
      f.dir,
      f.outParent,
      `${file} is not a valid JSON object (truncated?); download it again.`,
    );
  });

  it('refuses a tokenizer.json without a model vocabulary (item 5)', async () => {
    const f = await fixture();
    const file = join(f.dir, 'tokenizer.json');
    await writeFile(file, JSON.stringify({ version: '1.0' }));
    await expectRefusal(
      f.dir,
      f.outParent,
      `${file} has no model vocabulary: it is not a Hugging Face tokenizer.json. Copy the model's own tokenizer.json.`,
    );
  });

  it('refuses weights that are a git-lfs pointer', async () => {
    const f = await fixture();
    await writeFile(join(f.dir, 'model.safetensors'), LFS_POINTER);
    await expectRefusal(
      f.dir,
      f.outParent,
      'model.safetensors is a git-lfs pointer, not the file itself: run `git lfs pull` in the checkpoint folder (or download model.safetensors directly).',
    );
  });

  it('refuses a NaN weight, naming the tensor (item 6)', async () => {
    const f = await fixture();
    await pokeTensor(join(f.dir, 'model.safetensors'), 'model.layers.1.mlp.up_proj.weight', 5, 0x7fc00000);
    await expectRefusal(
      f.dir,
      f.outParent,
      'tensor model.layers.1.mlp.up_proj.weight in model.safetensors holds NaN or infinite values (the first at element 5): the checkpoint is damaged. Download or export it again.',
    );
  });

  it('refuses a float16 build of a finite weight float16 cannot hold, naming it; fp32 still builds', async () => {
    const f = await fixture();
    // 100000.0 as float32 bits: finite, beyond float16's largest value (65504), which makes it infinite.
    await pokeTensor(join(f.dir, 'model.safetensors'), 'model.layers.1.mlp.up_proj.weight', 5, 0x47c35000);
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp16');
    expect(result.stderr.split('\n').at(-2)).toBe(
      "edgetier convert: cannot build a float16 model (fp16, q4f16): model.layers.1.mlp.gate_proj.weight or model.layers.1.mlp.up_proj.weight holds 100000, beyond float16's range (±65504). Build fp32, q8 or q4 instead.",
    );
    expect(result.code).toBe(1);
    expect(await readdir(f.outParent)).toEqual([]);
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
  });

  it('refuses an infinite BF16 weight in a shard (item 6)', async () => {
    const f = await fixture({ dtype: 'BF16', sharded: true });
    await pokeTensor(join(f.dir, 'model-00002-of-00002.safetensors'), 'model.norm.weight', 63, 0xff80);
    await expectRefusal(
      f.dir,
      f.outParent,
      'tensor model.norm.weight in model-00002-of-00002.safetensors holds NaN or infinite values (the first at element 63): the checkpoint is damaged. Download or export it again.',
    );
  });

  it('refuses data_offsets that start before the data (item 7)', async () => {
    const f = await fixture();
    await rewriteHeader(join(f.dir, 'model.safetensors'), (h) => {
      h['model.norm.weight']!.data_offsets = [-256, 0];
    });
    await expectRefusal(
      f.dir,
      f.outParent,
      'model.safetensors is not a valid safetensors file: model.norm.weight has data_offsets [-256,0], not a [begin, end] byte range. Download or export it again.',
    );
  });

  it('refuses overlapping tensors (item 7)', async () => {
    const f = await fixture();
    await rewriteHeader(join(f.dir, 'model.safetensors'), (h) => {
      h['model.layers.0.post_attention_layernorm.weight']!.data_offsets = [
        ...h['model.layers.0.input_layernorm.weight']!.data_offsets,
      ];
    });
    await expectRefusal(
      f.dir,
      f.outParent,
      'model.safetensors is not a valid safetensors file: model.layers.0.post_attention_layernorm.weight overlaps model.layers.0.input_layernorm.weight. Download or export it again.',
    );
  });

  it('refuses a gap between tensors and bytes after the last one (item 7)', async () => {
    const f = await fixture();
    const file = join(f.dir, 'model.safetensors');
    await rewriteHeader(file, (h) => {
      delete h['model.layers.0.input_layernorm.weight'];
    });
    await expectRefusal(
      f.dir,
      f.outParent,
      'model.safetensors is not a valid safetensors file: 256 bytes before model.layers.0.self_attn.q_proj.weight belong to no tensor. Download or export it again.',
    );
    const g = await fixture();
    await rewriteHeader(join(g.dir, 'model.safetensors'), () => {}, new Uint8Array(8));
    await expectRefusal(
      g.dir,
      g.outParent,
      'model.safetensors is not a valid safetensors file: 8 bytes after the last tensor belong to no tensor. Download or export it again.',
    );
  });

  it('prefers model.safetensors to a stale index beside it, as transformers does (item 9)', async () => {
    // The shards the index lists are gone: transformers loads model.safetensors, so must edgetier.
    const f = await fixture();
    await writeFile(
      join(f.dir, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { 'model.norm.weight': 'model-00002-of-00002.safetensors' } }),
    );
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32');
    expect(result.code).toBe(0);
    // With stale shards present, the single file's tensors win.
    const g = await fixture({ sharded: true, seed: 2 });
    await makeCheckpoint(join(root, `single${count}`), { family: 'llama', seed: 3 });
    await writeFile(
      join(g.dir, 'model.safetensors'),
      await readFile(join(root, `single${count}`, 'model.safetensors')),
    );
    const opened = await SafetensorsWeights.openDir(g.dir);
    expect(opened.files).toEqual([join(g.dir, 'model.safetensors')]);
    const fresh = await SafetensorsWeights.openDir(join(root, `single${count}`));
    expect(await opened.read('model.norm.weight')).toEqual(await fresh.read('model.norm.weight'));
  });

  it('refuses a tensor stored in two shards (minor)', async () => {
    const f = await fixture({ sharded: true });
    const second = join(f.dir, 'model-00002-of-00002.safetensors');
    const first = await SafetensorsWeights.openFile(join(f.dir, 'model-00001-of-00002.safetensors'));
    const copied = 'model.layers.0.input_layernorm.weight';
    const old = await SafetensorsWeights.openFile(second);
    const tensors = [];
    for (const name of old.names())
      tensors.push({ name, shape: old.shape(name), data: await old.read(name) });
    tensors.push({
      name: copied,
      shape: first.shape(copied),
      data: new Float32Array(first.shape(copied)[0]!),
    });
    await writeSafetensors(second, tensors);
    await expectRefusal(
      f.dir,
      f.outParent,
      `tensor ${copied} is stored twice, in model-00001-of-00002.safetensors and model-00002-of-00002.safetensors; which one transformers loads depends on the index. Remove the stale copy or export the checkpoint again.`,
    );
  });

  it('refuses a non-string weight_map entry with one line (minor)', async () => {
    const f = await fixture({ sharded: true });
    const index = join(f.dir, 'model.safetensors.index.json');
    const json = JSON.parse(await readFile(index, 'utf8'));
    json.weight_map['model.norm.weight'] = 5;
    await writeFile(index, JSON.stringify(json));
    await expectRefusal(
      f.dir,
      f.outParent,
      'model.safetensors.index.json: its weight_map gives 5 for model.norm.weight, not a file name. Download or export it again.',
    );
  });

  it('accepts an unused I64 tensor, refuses a used tensor stored as an integer type (minor)', async () => {
    const f = await fixture();
    const file = join(f.dir, 'model.safetensors');
    const size = (await stat(file)).size;
    await rewriteHeader(
      file,
      (h) => {
        const end = Math.max(...Object.values(h).flatMap((e) => e.data_offsets ?? []));
        h['model.rotary_emb.position_ids'] = { dtype: 'I64', shape: [4], data_offsets: [end, end + 32] };
      },
      new Uint8Array(32),
    );
    expect((await stat(file)).size).toBeGreaterThan(size);
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);

    const g = await fixture();
    await rewriteHeader(join(g.dir, 'model.safetensors'), (h) => {
      h['model.norm.weight']!.dtype = 'I32';
    });
    await expectRefusal(
      g.dir,
      g.outParent,
      'tensor model.norm.weight is stored as I32; edgetier reads F32, F16 and BF16. Export the checkpoint in one of them.',
    );
  });

  it('without tie_word_embeddings and lm_head, suggests setting it to true (minor)', async () => {
    const f = await fixture({ tied: true, configOverrides: { tie_word_embeddings: undefined } });
    await expectRefusal(
      f.dir,
      f.outParent,
      'the checkpoint has no tensor lm_head.weight, which config.json calls for (config.json does not set tie_word_embeddings, and transformers\' default for llama is false). If the output head shares the embedding, add "tie_word_embeddings": true to config.json.',
    );
  });

  it('converts hidden_act "swish" (SiLU in transformers) (minor)', async () => {
    const f = await fixture({ configOverrides: { hidden_act: 'swish' } });
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
  });

  it('refuses rope_theta: null and a yarn rope_parameters by name (items 1)', async () => {
    const f = await fixture({ configOverrides: { rope_theta: null } });
    await expectRefusal(
      f.dir,
      f.outParent,
      "config.json: rope_theta is null; set it to a number (transformers' default is 10000) or remove it.",
    );
    const g = await fixture({
      configOverrides: {
        rope_theta: undefined,
        rope_parameters: { rope_type: 'yarn', factor: 4, rope_theta: 1e4 },
      },
    });
    await expectRefusal(
      g.dir,
      g.outParent,
      'config.json: rope_parameters has rope_type "yarn", which edgetier does not support (it supports "default" and "llama3"); convert a checkpoint without it.',
    );
  });
});

/** A pid that no process has: one of a child that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('--out and --force never lose anything edgetier did not create (issue 17, items 3 and 8)', () => {
  it('refuses --out equal to the checkpoint, even with --force, and keeps its files', async () => {
    const f = await fixture();
    const before = (await readdir(f.dir)).sort();
    const result = await edgetier('convert', f.dir, '--out', f.dir, '--force', '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: --out ${f.dir} is the checkpoint folder itself; choose another --out.\n`,
    );
    expect(result.code).toBe(1);
    expect((await readdir(f.dir)).sort()).toEqual(before);
  });

  it('refuses --out above the checkpoint, even with --force, and keeps everything in it', async () => {
    const parent = join(root, `parent${count++}`);
    const f = await makeCheckpoint(join(parent, 'ckpt'), { family: 'llama' });
    await writeFile(join(parent, 'notes.txt'), 'mine');
    const result = await edgetier('convert', f.dir, '--out', parent, '--force', '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: --out ${parent} contains the checkpoint ${f.dir}; choose a folder outside it.\n`,
    );
    expect(result.code).toBe(1);
    expect((await readdir(parent)).sort()).toEqual(['ckpt', 'notes.txt']);
    expect(existsSync(join(f.dir, 'model.safetensors'))).toBe(true);
  });

  it('refuses --out inside the checkpoint', async () => {
    const f = await fixture();
    const out = join(f.dir, 'web');
    const result = await edgetier('convert', f.dir, '--out', out, '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: --out ${out} is inside the checkpoint ${f.dir}; choose a folder outside it.\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('refuses --out reached through a symlink to the checkpoint', async () => {
    const f = await fixture();
    const link = join(f.outParent, 'link');
    await symlink(f.dir, link);
    const result = await edgetier('convert', f.dir, '--out', link, '--force', '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: --out ${link} is the checkpoint folder itself; choose another --out.\n`,
    );
    expect(existsSync(join(f.dir, 'model.safetensors'))).toBe(true);
  });

  it('--force refuses a folder edgetier did not build', async () => {
    const f = await fixture();
    await mkdir(f.out);
    await writeFile(join(f.out, 'thesis.tex'), 'mine');
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out} is not a model folder edgetier built (it has no .edgetier-model); --force only replaces those. Delete it yourself or choose another --out.\n`,
    );
    expect(result.code).toBe(1);
    expect(await readdir(f.out)).toEqual(['thesis.tex']);
  });

  it('--force refuses a model folder that also holds a file edgetier did not write', async () => {
    const f = await fixture();
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
    await writeFile(join(f.out, 'onnx', 'notes.txt'), 'mine');
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'q4');
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out} holds onnx/notes.txt, which edgetier did not write; move it out (or delete the folder yourself) and run again.\n`,
    );
    expect((await readdir(join(f.out, 'onnx'))).sort()).toEqual(['model.onnx', 'notes.txt']);
  });

  it('--force replaces a model folder built before the marker existed (exact layout + edgetier block)', async () => {
    const f = await fixture();
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
    await rm(join(f.out, MODEL_MARKER));
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'q4');
    expect(result.code).toBe(0);
    expect(await readdir(join(f.out, 'onnx'))).toEqual(['model_q4.onnx']);
    expect(existsSync(join(f.out, MODEL_MARKER))).toBe(true);
  });

  it('fills an existing empty folder in place, and follows a symlink to it (the link stays)', async () => {
    const f = await fixture();
    const target = join(f.outParent, 'volume');
    await mkdir(target);
    const link = join(f.outParent, 'link');
    await symlink(target, link);
    const result = await edgetier('convert', f.dir, '--out', link, '--dtype', 'fp32');
    expect(result.stderr.split('\n').at(-2)).not.toMatch(/^edgetier convert:/);
    expect(result.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect((await readdir(target)).sort()).toEqual([
      '.edgetier-model',
      'config.json',
      'generation_config.json',
      'onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect((await readdir(f.outParent)).sort()).toEqual(['link', 'volume']);
  });

  it('refuses a symlink to nothing', async () => {
    const f = await fixture();
    await symlink(join(f.outParent, 'gone'), f.out);
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out}: ${f.out} is a symbolic link to nothing. Remove the link or choose another --out.\n`,
    );
    expect(await readdir(f.outParent)).toEqual(['model']);
  });

  it('--out under /proc fails with one line instead of spinning', async () => {
    const f = await fixture();
    const result = await edgetier('convert', f.dir, '--out', '/proc/x/model', '--dtype', 'fp32');
    expect(result.stderr.split('\n').at(-2)).toBe(
      'edgetier convert: cannot create /proc/x/model: a folder on its path cannot be created here (at /proc/x). Choose an --out under an existing, writable folder.',
    );
    expect(result.code).toBe(1);
  });

  it('removes the temporary folder a killed run left beside --out, and says so', async () => {
    const f = await fixture();
    const stale = join(f.outParent, `.model.tmp-${deadPid()}-abc`);
    await mkdir(join(stale, 'onnx'), { recursive: true });
    await writeFile(join(stale, BUILD_MARKER), String(deadPid()));
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`removed ${stale}, left by an interrupted build\n`);
    expect(await readdir(f.outParent)).toEqual(['model']);
  });

  it("removes a killed run's temporary folder only when the marker names this host", async () => {
    const f = await fixture();
    const here = join(f.outParent, `.model.tmp-${deadPid()}-abc`);
    await mkdir(here);
    await writeFile(join(here, BUILD_MARKER), `${deadPid()} ${hostname()}\n`);
    // On a shared volume a pid from another machine (or container) says nothing about that build.
    const there = join(f.outParent, `.model.tmp-${deadPid()}-def`);
    await mkdir(there);
    await writeFile(join(there, BUILD_MARKER), `${deadPid()} another-host\n`);
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`removed ${here}, left by an interrupted build\n`);
    expect(result.stderr).toContain(
      `${there} belongs to a build on another-host; delete it once that build is over\n`,
    );
    expect(existsSync(there)).toBe(true);
    expect(existsSync(here)).toBe(false);
  });

  it('names a look-alike temporary folder without the build marker, and leaves it alone', async () => {
    const f = await fixture();
    const lookalike = join(f.outParent, `.model.tmp-${deadPid()}-abc`);
    await mkdir(lookalike);
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32');
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `${lookalike} looks like a folder an interrupted build left; delete it if nothing else made it\n`,
    );
    expect(existsSync(lookalike)).toBe(true);
  });

  it('--force does not trust a marker that points outside its folder', async () => {
    const f = await fixture();
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
    await writeFile(join(f.outParent, 'notes.txt'), 'mine');
    const marker = JSON.parse(await readFile(join(f.out, MODEL_MARKER), 'utf8'));
    marker.files.push('../notes.txt');
    await writeFile(join(f.out, MODEL_MARKER), JSON.stringify(marker));
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'q4');
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out} is not a model folder edgetier built (it has no .edgetier-model); --force only replaces those. Delete it yourself or choose another --out.\n`,
    );
    expect(await readFile(join(f.outParent, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('a failed build removes its temporary folder and the parent folders it created', async () => {
    const f = await fixture();
    const spec = parseHfConfig(f.config);
    const stored = await SafetensorsWeights.openDir(f.dir);
    const failing: WeightSource = {
      names: () => stored.names(),
      has: (name) => stored.has(name),
      shape: (name) => stored.shape(name),
      read: async () => {
        throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      },
    };
    const out = join(f.outParent, 'a', 'b', 'model');
    const error = await buildModelFolder({
      spec,
      weights: failing,
      hfConfig: f.config,
      tokenizer: { ...tinyTokenizer(), generationConfig: {} },
      dtypes: ['fp32'],
      outDir: out,
      provenance: { synthetic: false, source: f.dir },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as Error).message).toBe(`could not build ${out}: EIO: i/o error, read`);
    expect(await readdir(f.outParent)).toEqual([]);
  });

  it('names the path the user gave, not a temporary one, for OS errors', () => {
    const at = (code: string, path: string) =>
      describeFsError(Object.assign(new Error(`${code}: x`), { code, path }), 'models/m').message;
    expect(at('EACCES', 'models/.m.tmp-1-a')).toBe(
      'cannot write models/m: permission denied (at models/.m.tmp-1-a). Choose an --out in a folder you can write to.',
    );
    expect(at('EROFS', 'models')).toBe(
      'cannot write models/m: the filesystem is read-only. Choose an --out on a writable disk.',
    );
    expect(at('EBUSY', 'models/m')).toBe(
      'cannot write models/m: it is busy (in use by another program, or a mount point). Close what uses it or choose another --out.',
    );
    expect(at('ENOSPC', 'models/m/onnx/model.onnx')).toBe(
      'cannot write models/m: no space left on the disk. Free some space or choose another --out.',
    );
  });
});

describe('--force never writes or deletes through a link, and rechecks the folder before replacing it', () => {
  /** Converts once into f.out (fp32), so that f.out is a marked model folder edgetier built. */
  async function built() {
    const f = await fixture();
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
    return f;
  }

  it('does not delete through a symlinked folder that a doctored marker lists', async () => {
    const f = await built();
    const victim = join(f.outParent, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'model.onnx'), 'mine');
    await rm(join(f.out, 'onnx'), { recursive: true });
    await symlink(victim, join(f.out, 'onnx'));
    const marker = JSON.parse(await readFile(join(f.out, MODEL_MARKER), 'utf8'));
    // The file below the link first, then the link: removing them in this order reaches outside.
    marker.files = ['onnx/model.onnx', 'onnx', ...marker.files.filter((p: string) => !p.startsWith('onnx'))];
    await writeFile(join(f.out, MODEL_MARKER), JSON.stringify(marker));
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'fp32');
    expect(result.code).toBe(0);
    expect(await readFile(join(victim, 'model.onnx'), 'utf8')).toBe('mine');
    expect(lstatSync(join(f.out, 'onnx')).isSymbolicLink()).toBe(false);
    expect(await readdir(join(f.out, 'onnx'))).toEqual(['model.onnx']);
  });

  it('does not write the marker through a symlink left in the folder', async () => {
    const f = await built();
    const thesis = join(f.outParent, 'thesis.tex');
    await writeFile(thesis, 'mine');
    await symlink(thesis, join(f.out, `${MODEL_MARKER}.tmp`));
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'q4');
    expect(result.code).toBe(0);
    expect(await readFile(thesis, 'utf8')).toBe('mine');
    expect(lstatSync(join(f.out, MODEL_MARKER)).isFile()).toBe(true);
    expect(existsSync(join(f.out, `${MODEL_MARKER}.tmp`))).toBe(false);
  });

  it('does not rewrite a marker hard-linked with another model folder (a `cp -al` copy)', async () => {
    const f = await built();
    const copy = join(f.outParent, 'copy');
    await mkdir(join(copy, 'onnx'), { recursive: true });
    for (const file of JSON.parse(await readFile(join(f.out, MODEL_MARKER), 'utf8')).files as string[]) {
      await link(join(f.out, file), join(copy, file));
    }
    await link(join(f.out, MODEL_MARKER), join(copy, MODEL_MARKER));
    const before = await readFile(join(f.out, MODEL_MARKER), 'utf8');
    const result = await edgetier('convert', f.dir, '--out', copy, '--force', '--dtype', 'q4');
    expect(result.code).toBe(0);
    expect(await readFile(join(f.out, MODEL_MARKER), 'utf8')).toBe(before);
    expect(await readdir(join(f.out, 'onnx'))).toEqual(['model.onnx']);
  });

  it('does not replace a file of the model that the user edited since edgetier wrote it', async () => {
    const f = await built();
    const file = join(f.out, 'tokenizer_config.json');
    const edited = (await readFile(file, 'utf8')).replace('{', '{"chat_template": "mine", ');
    await writeFile(file, edited);
    const result = await edgetier('convert', f.dir, '--out', f.out, '--force', '--dtype', 'q4');
    expect(result.stderr).toBe(
      `edgetier convert: ${f.out} holds tokenizer_config.json, changed since edgetier wrote it; move it out (or delete the folder yourself) and run again.\n`,
    );
    expect(result.code).toBe(1);
    expect(await readFile(file, 'utf8')).toBe(edited);
    expect(await readdir(join(f.out, 'onnx'))).toEqual(['model.onnx']);
  });

  it('refuses --out inside the checkpoint even when its name starts with two dots', async () => {
    const f = await fixture();
    const out = join(f.dir, '..web');
    const result = await edgetier('convert', f.dir, '--out', out, '--dtype', 'fp32');
    expect(result.stderr).toBe(
      `edgetier convert: --out ${out} is inside the checkpoint ${f.dir}; choose a folder outside it.\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  /** Builds f's checkpoint with a plan made before `meanwhile` changed the folder. */
  async function buildAfter(
    f: Awaited<ReturnType<typeof fixture>>,
    force: boolean,
    meanwhile: () => Promise<void>,
  ) {
    const plan = planOutDir(f.out, { force, protect: f.dir });
    await meanwhile();
    const stored = await SafetensorsWeights.openDir(f.dir);
    return buildModelFolder({
      spec: parseHfConfig(f.config),
      weights: stored,
      hfConfig: f.config,
      tokenizer: { ...tinyTokenizer(), generationConfig: {} },
      dtypes: ['fp32'],
      outDir: f.out,
      provenance: { synthetic: false, source: f.dir },
      plan,
    }).catch((e: unknown) => e);
  }

  it('does not overwrite a file put into an empty --out while it was building', async () => {
    const f = await fixture();
    await mkdir(f.out);
    const error = await buildAfter(f, false, () => writeFile(join(f.out, 'config.json'), 'mine'));
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as Error).message).toBe(
      `${f.out} changed while edgetier was building it (it now holds config.json); nothing was replaced. Run again.`,
    );
    expect(await readdir(f.out)).toEqual(['config.json']);
    expect(await readFile(join(f.out, 'config.json'), 'utf8')).toBe('mine');
  });

  it('does not delete through --out replaced by a symlink while it was building', async () => {
    const f = await built();
    const victim = join(f.outParent, 'victim');
    await mkdir(victim);
    await writeFile(join(victim, 'config.json'), 'mine');
    const error = await buildAfter(f, true, async () => {
      await rename(f.out, join(f.outParent, 'moved'));
      await symlink(victim, f.out);
    });
    expect(error).toBeInstanceOf(EdgetierError);
    expect((error as Error).message).toBe(
      `${f.out} changed while edgetier was building it (it is now a symbolic link); nothing was replaced. Run again.`,
    );
    expect(await readdir(victim)).toEqual(['config.json']);
    expect(await readFile(join(victim, 'config.json'), 'utf8')).toBe('mine');
  });
});

describe('edgetier convert', () => {
  it('converts a sharded BF16 qwen2 checkpoint into a folder transformers.js loads and runs', async () => {
    const f = await fixture({
      family: 'qwen2',
      tied: false,
      dtype: 'BF16',
      sharded: true,
      chatTemplateJinja: true,
    });
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32,q4');
    expect(result.stderr).toContain('qwen2, 2 layers, hidden 64, heads 4/2, vocab 384, untied head');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^wrote 6 files \(.*\) to .*: onnx\/model\.onnx .*, onnx\/model_q4\.onnx .*\n$/,
    );
    expect((await readdir(f.out)).sort()).toEqual([
      '.edgetier-model',
      'config.json',
      'generation_config.json',
      'onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect((await readdir(join(f.out, 'onnx'))).sort()).toEqual(['model.onnx', 'model_q4.onnx']);
    expect((await readdir(f.outParent)).sort()).toEqual(['model']);

    const config = JSON.parse(await readFile(join(f.out, 'config.json'), 'utf8'));
    expect(config.model_type).toBe('qwen2');
    expect(config.edgetier).toEqual({ synthetic: false, source: f.dir });
    expect(config['transformers.js_config']).toBeTypeOf('object');
    // chat_template.jinja is folded into tokenizer_config.json, which is all transformers.js reads.
    const tokenizerConfig = JSON.parse(await readFile(join(f.out, 'tokenizer_config.json'), 'utf8'));
    expect(tokenizerConfig.chat_template).toContain("'<|im_start|>' + message['role']");

    const tokenizer = await AutoTokenizer.from_pretrained(f.out);
    const model = await AutoModelForCausalLM.from_pretrained(f.out, { dtype: 'fp32', device: 'cpu' });
    try {
      const inputs = tokenizer('The small model runs');
      const output = (await model.generate({ ...inputs, max_new_tokens: 5, do_sample: false })) as Tensor;
      expect(output.dims).toEqual([1, (inputs.input_ids as Tensor).dims[1]! + 5]);
    } finally {
      await model.dispose();
    }
  });

  it('replaces a model folder it built with --force, and marks every folder it builds', async () => {
    const f = await fixture({ family: 'qwen3', tied: true, generationConfig: false });
    expect((await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'fp32')).code).toBe(0);
    const marker = JSON.parse(await readFile(join(f.out, MODEL_MARKER), 'utf8'));
    const files = [
      'config.json',
      'generation_config.json',
      'onnx/model.onnx',
      'tokenizer.json',
      'tokenizer_config.json',
    ];
    expect(marker).toEqual({ edgetier_model: 1, files, fingerprints: expect.any(Object) });
    // Each file's SHA-256 as written, so that --force can tell a file the user edited since.
    const config = await readFile(join(f.out, 'config.json'));
    expect(Object.keys(marker.fingerprints)).toEqual(files);
    expect(marker.fingerprints['config.json']).toBe(
      `sha256:${createHash('sha256').update(config).digest('hex')}`,
    );
    await mkdir(join(f.out, 'mine')); // an empty folder of the user's: not edgetier's to remove
    const result = await edgetier('convert', f.dir, '--out', f.out, '--dtype', 'q4', '--force');
    expect(result.code).toBe(0);
    expect(existsSync(join(f.out, 'mine'))).toBe(true);
    await rm(join(f.out, 'mine'), { recursive: true });
    expect(existsSync(join(f.out, 'onnx', 'model.onnx'))).toBe(false);
    expect(existsSync(join(f.out, 'onnx', 'model_q4.onnx'))).toBe(true);
    expect((await readdir(f.outParent)).sort()).toEqual(['model']);
    expect(JSON.parse(await readFile(join(f.out, MODEL_MARKER), 'utf8')).files).toContain(
      'onnx/model_q4.onnx',
    );
    // Without a generation_config.json in the checkpoint, one is made from config.json's token ids.
    expect(JSON.parse(await readFile(join(f.out, 'generation_config.json'), 'utf8'))).toEqual({
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
    });
  });

  it('documents every option in --help', async () => {
    const result = await edgetier('convert', '--help');
    expect(result.code).toBe(0);
    for (const option of ['--out', '--dtype', '--force', '--verbose', 'Default: fp32,q4']) {
      expect(result.stdout).toContain(option);
    }
  });
});
