/**
 * Reading and writing the safetensors format (an 8-byte little-endian header length, a JSON header,
 * then raw little-endian tensor bytes). The reader opens a single file or a sharded set (through
 * `model.safetensors.index.json`) and reads one tensor at a time, so memory stays at one tensor.
 */
import { existsSync } from 'node:fs';
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half.ts';
import type { WeightSource } from './weights.ts';

export type StoredDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2 };

interface Entry {
  file: string;
  dtype: StoredDtype;
  shape: number[];
  /** Absolute byte offset of the tensor in its file. */
  start: number;
  byteLength: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

function corrupt(file: string, why: string): EdgetierError {
  return new EdgetierError(
    'weights_corrupt',
    `${basename(file)} is not a valid safetensors file: ${why}. Download or export it again.`,
  );
}

async function readHeader(file: string): Promise<Map<string, Entry>> {
  const size = (await stat(file)).size;
  if (size < 8) throw corrupt(file, `it is ${size} bytes long, shorter than its 8-byte header length`);
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    const headerLength = Number(head.readBigUInt64LE(0));
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
      throw corrupt(file, `its header claims ${headerLength} bytes but the file has ${size - 8}`);
    }
    const json = Buffer.alloc(headerLength);
    await handle.read(json, 0, headerLength, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch {
      throw corrupt(file, 'its JSON header does not parse');
    }
    const dataStart = 8 + headerLength;
    const entries = new Map<string, Entry>();
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const v = value as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!v || typeof v.dtype !== 'string' || !Array.isArray(v.shape) || !Array.isArray(v.data_offsets)) {
        throw corrupt(file, `the header entry for ${name} lacks dtype, shape or data_offsets`);
      }
      if (!(v.dtype in BYTES)) {
        throw new EdgetierError(
          'weights_corrupt',
          `${name} in ${basename(file)} is stored as ${v.dtype}; edgetier reads F32, F16 and BF16.`,
        );
      }
      const dtype = v.dtype as StoredDtype;
      const [begin, end] = v.data_offsets;
      const expected = v.shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
      if (end - begin !== expected) {
        throw corrupt(file, `${name} has shape [${v.shape.join(', ')}] but ${end - begin} bytes of data`);
      }
      if (dataStart + end > size) {
        throw corrupt(file, `${name} ends at byte ${dataStart + end} but the file has ${size} (truncated?)`);
      }
      entries.set(name, { file, dtype, shape: v.shape, start: dataStart + begin, byteLength: end - begin });
    }
    return entries;
  } finally {
    await handle.close();
  }
}

export class SafetensorsWeights implements WeightSource {
  private constructor(private readonly entries: Map<string, Entry>) {}

  /**
   * Opens the weights of a checkpoint folder: `model.safetensors`, or the shards listed by
   * `model.safetensors.index.json`.
   */
  static async openDir(dir: string): Promise<SafetensorsWeights> {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    let files: string[];
    if (existsSync(index)) {
      let map: Record<string, string>;
      try {
        map = JSON.parse(await readFile(index, 'utf8')).weight_map;
      } catch {
        throw corrupt(index, 'the index does not parse as JSON');
      }
      if (!map || typeof map !== 'object') throw corrupt(index, 'the index has no weight_map');
      files = [...new Set(Object.values(map))].map((f) => join(dir, f));
      for (const f of files) {
        if (!existsSync(f)) {
          throw new EdgetierError(
            'weights_missing',
            `${basename(index)} lists ${basename(f)}, which is not in ${dir}. Download every shard.`,
          );
        }
      }
    } else if (existsSync(single)) {
      files = [single];
    } else {
      throw new EdgetierError(
        'weights_missing',
        `no weights in ${dir}: expected model.safetensors or model.safetensors.index.json with its shards.`,
      );
    }
    const entries = new Map<string, Entry>();
    for (const file of files) for (const [name, e] of await readHeader(file)) entries.set(name, e);
    return new SafetensorsWeights(entries);
  }

  static async openFile(file: string): Promise<SafetensorsWeights> {
    return new SafetensorsWeights(await readHeader(file));
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  shape(name: string): number[] {
    return [...this.entry(name).shape];
  }

  storedDtype(name: string): StoredDtype {
    return this.entry(name).dtype;
  }

  async read(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    const handle = await open(e.file, 'r');
    try {
      const bytes = new Uint8Array(e.byteLength);
      const { bytesRead } = await handle.read(bytes, 0, e.byteLength, e.start);
      if (bytesRead !== e.byteLength) throw corrupt(e.file, `${name} could not be read whole`);
      if (e.dtype === 'F32') return new Float32Array(bytes.buffer);
      const half = new Uint16Array(bytes.buffer);
      return e.dtype === 'BF16' ? bf16ToF32(half) : f16ToF32(half);
    } finally {
      await handle.close();
    }
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new EdgetierError('weights_missing', `the checkpoint has no tensor named ${name}.`);
    return e;
  }
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Writes tensors as one safetensors file, converting to `dtype`; for fixtures and tests. */
export async function writeSafetensors(
  file: string,
  tensors: TensorToWrite[],
  dtype: StoredDtype = 'F32',
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes =
      dtype === 'F32'
        ? new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
        : new Uint8Array((dtype === 'BF16' ? f32ToBf16(t.data) : f32ToF16(t.data)).buffer);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data to 8 bytes, as the reference writer does
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, [head, Buffer.from(json), ...chunks]);
  await rename(tmp, file);
}
