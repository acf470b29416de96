/**
 * Streams a ModelDef to disk: one initializer's bytes in memory at a time, small protobuf fields
 * batched into larger writes. With external data (needed past protobuf's 2 GiB limit) the big
 * initializers go to `<file>_data` (then `<file>_data_1`, … when a chunk would pass `chunkBytes`),
 * which is the layout transformers.js requests through `use_external_data_format`.
 * Every file is written as `<name>.tmp-<pid>` and renamed only once all are complete.
 */
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { EdgetierError } from '../../core/errors.ts';
import { encodeModel, type ModelDef, type Placement, type TensorDef } from './model.ts';
import { type LazyBytes, segmentsLength } from './proto.ts';

/** Protobuf cannot encode a message of 2 GiB or more. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

export interface ExternalDataOptions {
  /** Initializers at least this large leave the .onnx file (onnx's own default is 1024). */
  thresholdBytes: number;
  /** Largest data file; a tensor that would cross it opens the next chunk. */
  chunkBytes: number;
}

export const DEFAULT_EXTERNAL_DATA: ExternalDataOptions = {
  thresholdBytes: 1024,
  // Below 2 GiB so that each chunk fits one ArrayBuffer in every browser.
  chunkBytes: 2 ** 31 - 2 ** 24,
};

export interface WrittenModel {
  file: string;
  bytes: number;
  /** Data files in chunk order (empty without external data). */
  dataFiles: { file: string; bytes: number }[];
}

const ALIGN = 4096;
const BATCH_BYTES = 1 << 20;

function dataFileName(file: string, chunk: number): string {
  return chunk === 0 ? `${file}_data` : `${file}_data_${chunk}`;
}

/** Total size of the model written inline, to decide whether it must use external data. */
export function inlineModelBytes(model: ModelDef): number {
  return segmentsLength(encodeModel(model, () => ({ kind: 'inline' })));
}

async function produceChecked(t: LazyBytes, what: string): Promise<Uint8Array> {
  const bytes = await t.produce();
  if (bytes.length !== t.byteLength) {
    throw new EdgetierError('internal', `${what}: produced ${bytes.length} bytes, declared ${t.byteLength}`);
  }
  return bytes;
}

export async function writeModel(
  model: ModelDef,
  file: string,
  external: ExternalDataOptions | null,
): Promise<WrittenModel> {
  const placements = new Map<TensorDef, Placement>();
  const chunkSizes: number[] = [];
  if (external) {
    let chunk = 0;
    let offset = 0;
    for (const t of model.graph.initializers) {
      if (t.data.byteLength < external.thresholdBytes) continue;
      let start = Math.ceil(offset / ALIGN) * ALIGN;
      if (start > 0 && start + t.data.byteLength > external.chunkBytes) {
        chunkSizes[chunk] = offset;
        chunk++;
        start = 0;
      }
      const location = basename(dataFileName(file, chunk));
      placements.set(t, { kind: 'external', chunk, location, offset: start });
      offset = start + t.data.byteLength;
    }
    if (placements.size > 0) chunkSizes[chunk] = offset;
  }
  const segments = encodeModel(model, (t) => placements.get(t) ?? { kind: 'inline' });
  const protoBytes = segmentsLength(segments);
  if (protoBytes > PROTOBUF_LIMIT_BYTES) {
    throw new EdgetierError(
      'internal',
      `${basename(file)} would be ${protoBytes} bytes, past protobuf's 2 GiB limit; write it with external data.`,
    );
  }

  const tmp = (f: string) => `${f}.tmp-${process.pid}`;
  const finals = [file, ...chunkSizes.map((_, i) => dataFileName(file, i))];
  const handles: FileHandle[] = [];
  try {
    const main = await open(tmp(file), 'w');
    handles.push(main);
    const data: FileHandle[] = [];
    for (let i = 0; i < chunkSizes.length; i++) {
      const h = await open(tmp(dataFileName(file, i)), 'w');
      handles.push(h);
      data.push(h);
    }
    const dataPos = chunkSizes.map(() => 0);

    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length > 0) await main.writev(batch);
      batch = [];
      batchBytes = 0;
    };
    for (const s of segments) {
      if (s instanceof Uint8Array) {
        batch.push(s);
        batchBytes += s.length;
        if (batchBytes >= BATCH_BYTES) await flush();
      } else if (s.kind === 'inline') {
        await flush();
        await main.write(await produceChecked(s.data, basename(file)));
      } else {
        const h = data[s.chunk]!;
        const pad = s.offset - dataPos[s.chunk]!;
        if (pad > 0) await h.write(new Uint8Array(pad));
        const bytes = await produceChecked(s.data, basename(file));
        await h.write(bytes);
        dataPos[s.chunk] = s.offset + bytes.length;
      }
    }
    await flush();
    for (const h of handles) await h.close();
    handles.length = 0;
    for (const f of finals) await rename(tmp(f), f);
  } catch (error) {
    for (const h of handles) await h.close().catch(() => {});
    for (const f of finals) await rm(tmp(f), { force: true });
    if (error instanceof EdgetierError) throw error;
    throw new EdgetierError('io_error', `Could not write ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return {
    file,
    bytes: protoBytes,
    dataFiles: chunkSizes.map((bytes, i) => ({ file: dataFileName(file, i), bytes })),
  };
}
