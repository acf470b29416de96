/**
 * Another exporter's graph, made from edgetier's own: one float initializer appended to an ONNX file
 * under a name edgetier's converter never writes, which no node uses. ONNX Runtime accepts the file;
 * edgetier's CPU engine refuses it (unsupported_architecture), as it refuses a Hub export.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthPreset } from '../../src/builder/synth.ts';
import { DTYPE_FILE } from '../../src/core/dtypes.ts';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A protobuf length-delimited field: its tag byte, the payload's length, the payload. */
const field = (tag: number, payload: number[]) => [tag, ...varint(payload.length), ...payload];

/** Appends to `file` (a ModelProto) a graph initializer `name`: dims [1], float, four zero bytes. */
export function appendForeignInitializer(file: string, name = 'onnx::MatMul_1234'): void {
  const encoded = [...new TextEncoder().encode(name)];
  const tensor = [...[0x08, 1], ...[0x10, 1], ...field(0x42, encoded), ...field(0x4a, [0, 0, 0, 0])];
  // ModelProto.graph (7) holding GraphProto.initializer (5): protobuf merges it into the graph.
  writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from(field(0x3a, field(0x2a, tensor)))]));
}

/**
 * The tiny model at `folder` in q8 and q4, its q4 another exporter's (appendForeignInitializer): the
 * CPU engine refuses the q4 the plan chose for it, and ONNX Runtime runs the q8 instead, or, with
 * `brokenQ8`, fails on a q8 that is not a model at all.
 */
export async function refusedQ4Folder(folder: string, options: { brokenQ8?: boolean } = {}): Promise<void> {
  await synthPreset('tiny', folder, { dtypes: ['q8', 'q4'], seed: 3 });
  appendForeignInitializer(join(folder, 'onnx', DTYPE_FILE.q4));
  if (options.brokenQ8) writeFileSync(join(folder, 'onnx', DTYPE_FILE.q8), Buffer.alloc(4096, 0xff));
}
