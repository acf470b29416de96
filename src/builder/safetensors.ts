/**
 * Reading and writing the safetensors format (an 8-byte little-endian header length, a JSON header,
 * then raw little-endian tensor bytes). The reader opens a single file or a sharded set (through
 * `model.safetensors.index.json`) and reads one tensor at a time, so memory stays at one tensor.
 */
import { existsSync } from 'node:fs';
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import { EdgetierError } from '../core/errors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half.ts';
import { refuseLfsPointer } from './lfs-pointer.ts';
import type { WeightSource } from './weights.ts';

export type StoredDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Every dtype the safetensors format defines, with its size: a file may hold any of them. */
const FORMAT_BYTES: Record<string, number> = {
  ...BYTES,
  F64: 8,
  I64: 8,
  U64: 8,
  I32: 4,
  U32: 4,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

function isStoredDtype(dtype: string): dtype is StoredDtype {
  return dtype in BYTES;
}

interface Entry {
  file: string;
  /** As the header states it; only F32/F16/BF16 can be read. */
  dtype: string;
  shape: number[];
  /** Absolute byte offset of the tensor in its file. */
  start: number;
  byteLength: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Bytes read at a time when scanning a tensor for NaN/Inf. */
const SCAN_CHUNK = 16 * 1024 * 1024;

function corrupt(file: string, why: string): EdgetierError {
  return new EdgetierError(
    'weights_corrupt',
    `${basename(file)} is not a valid safetensors file: ${why}. Download or export it again.`,
  );
}

function isByteOffset(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads and checks a safetensors header the way the format's own reader does: every entry has a
 * known dtype, a shape of non-negative integers and [begin, end) offsets that match it; the tensors
 * tile the data section exactly (no gap, no overlap, nothing after the last one).
 */
async function readHeader(file: string): Promise<Map<string, Entry>> {
  await refuseLfsPointer(file);
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
    let header: unknown;
    try {
      header = JSON.parse(json.toString('utf8'));
    } catch {
      throw corrupt(file, 'its JSON header does not parse');
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) {
      throw corrupt(file, 'its JSON header is not an object');
    }
    const dataStart = 8 + headerLength;
    const dataLength = size - dataStart;
    const entries = new Map<string, Entry>();
    const spans: { name: string; begin: number; end: number }[] = [];
    for (const [name, value] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!v || typeof v.dtype !== 'string' || !Array.isArray(v.shape) || !Array.isArray(v.data_offsets)) {
        throw corrupt(file, `the header entry for ${name} lacks dtype, shape or data_offsets`);
      }
      const itemBytes = FORMAT_BYTES[v.dtype];
      if (itemBytes === undefined)
        throw corrupt(file, `${name} has dtype ${v.dtype}, which the format does not define`);
      if (!v.shape.every(isByteOffset)) {
        throw corrupt(file, `${name} has shape ${JSON.stringify(v.shape)}, not a list of sizes`);
      }
      const [begin, end] = v.data_offsets as unknown[];
      if (v.data_offsets.length !== 2 || !isByteOffset(begin) || !isByteOffset(end) || end < begin) {
        throw corrupt(
          file,
          `${name} has data_offsets ${JSON.stringify(v.data_offsets)}, not a [begin, end] byte range`,
        );
      }
      const shape = v.shape as number[];
      const expected = shape.reduce((a, b) => a * b, 1) * itemBytes;
      if (end - begin !== expected) {
        throw corrupt(file, `${name} has shape [${shape.join(', ')}] but ${end - begin} bytes of data`);
      }
      if (dataStart + end > size) {
        throw corrupt(file, `${name} ends at byte ${dataStart + end} but the file has ${size} (truncated?)`);
      }
      spans.push({ name, begin, end });
      entries.set(name, { file, dtype: v.dtype, shape, start: dataStart + begin, byteLength: end - begin });
    }
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    let at = 0;
    let previous: string | null = null;
    for (const span of spans) {
      if (span.begin < at) throw corrupt(file, `${span.name} overlaps ${previous}`);
      if (span.begin > at) {
        throw corrupt(file, `${span.begin - at} bytes before ${span.name} belong to no tensor`);
      }
      at = span.end;
      previous = span.name;
    }
    if (at !== dataLength)
      throw corrupt(file, `${dataLength - at} bytes after the last tensor belong to no tensor`);
    return entries;
  } finally {
    await handle.close();
  }
}

function badIndex(index: string, why: string): EdgetierError {
  return new EdgetierError('weights_corrupt', `${basename(index)}: ${why}. Download or export it again.`);
}

/** A file name from an index's weight_map: a plain name inside the checkpoint folder. */
function shardName(index: string, tensor: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw badIndex(index, `its weight_map gives ${JSON.stringify(value)} for ${tensor}, not a file name`);
  }
  if (isAbsolute(value) || value.split(/[\\/]/).includes('..')) {
    throw badIndex(index, `its weight_map points ${tensor} outside the checkpoint folder (${value})`);
  }
  return value;
}

export class SafetensorsWeights implements WeightSource {
  private constructor(
    private readonly entries: Map<string, Entry>,
    /** The files the weights come from, for messages. */
    readonly files: string[],
  ) {}

  /**
   * Opens the weights of a checkpoint folder as transformers does: `model.safetensors` when it is
   * there (a stale index beside it, left by an earlier sharded save, is ignored), else the shards
   * listed by `model.safetensors.index.json`. A tensor stored in two shards is refused.
   */
  static async openDir(dir: string): Promise<SafetensorsWeights> {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    let files: string[];
    if (existsSync(single)) {
      files = [single];
    } else if (existsSync(index)) {
      await refuseLfsPointer(index);
      let map: unknown;
      try {
        map = JSON.parse(await readFile(index, 'utf8')).weight_map;
      } catch {
        throw badIndex(index, 'it does not parse as JSON');
      }
      if (!map || typeof map !== 'object' || Array.isArray(map))
        throw badIndex(index, 'it has no weight_map');
      const names = Object.entries(map).map(([tensor, file]) => shardName(index, tensor, file));
      files = [...new Set(names)].map((f) => join(dir, f));
      for (const f of files) {
        if (!existsSync(f)) {
          throw new EdgetierError(
            'weights_missing',
            `${basename(index)} lists ${relative(dir, f)}, which is not in ${dir}. Download every shard.`,
          );
        }
      }
    } else {
      throw new EdgetierError(
        'weights_missing',
        `no weights in ${dir}: expected model.safetensors or model.safetensors.index.json with its shards.`,
      );
    }
    const entries = new Map<string, Entry>();
    for (const file of files) {
      for (const [name, e] of await readHeader(file)) {
        const other = entries.get(name);
        if (other) {
          throw new EdgetierError(
            'weights_corrupt',
            `tensor ${name} is stored twice, in ${basename(other.file)} and ${basename(file)}; which one transformers loads depends on the index. Remove the stale copy or export the checkpoint again.`,
          );
        }
        entries.set(name, e);
      }
    }
    return new SafetensorsWeights(entries, files);
  }

  static async openFile(file: string): Promise<SafetensorsWeights> {
    return new SafetensorsWeights(await readHeader(file), [file]);
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

  /** The dtype the file states (any safetensors dtype; read() takes F32, F16 and BF16). */
  storedDtype(name: string): string {
    return this.entry(name).dtype;
  }

  /** The file a tensor is in, for messages. */
  fileOf(name: string): string {
    return this.entry(name).file;
  }

  async read(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    if (!isStoredDtype(e.dtype)) {
      throw new EdgetierError(
        'weights_corrupt',
        `${name} in ${basename(e.file)} is stored as ${e.dtype}; edgetier reads F32, F16 and BF16.`,
      );
    }
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

  /**
   * The index of the first NaN or infinite value of a float tensor, or -1: a scan of the raw bits
   * (all exponent bits set), in chunks, without converting anything.
   */
  async firstNonFinite(name: string): Promise<number> {
    const e = this.entry(name);
    if (!isStoredDtype(e.dtype)) return -1;
    const width = BYTES[e.dtype];
    const handle = await open(e.file, 'r');
    try {
      const chunk = new Uint8Array(Math.min(SCAN_CHUNK, e.byteLength));
      for (let done = 0; done < e.byteLength; ) {
        const length = Math.min(chunk.length, e.byteLength - done);
        const { bytesRead } = await handle.read(chunk, 0, length, e.start + done);
        if (bytesRead !== length) throw corrupt(e.file, `${name} could not be read whole`);
        const view = new DataView(chunk.buffer, 0, length);
        for (let i = 0; i < length; i += width) {
          const bad =
            e.dtype === 'F32'
              ? (view.getUint32(i, true) & 0x7f800000) === 0x7f800000
              : e.dtype === 'F16'
                ? (view.getUint16(i, true) & 0x7c00) === 0x7c00
                : (view.getUint16(i, true) & 0x7f80) === 0x7f80;
          if (bad) return (done + i) / width;
        }
        done += length;
      }
      return -1;
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
