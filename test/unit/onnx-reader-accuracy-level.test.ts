/**
 * The ONNX reader's MatMulNBits accuracy_level (a hostile review's finding): a file whose
 * accuracy_level attribute is not an INT (its `type` says INTS or FLOAT, with a stray `i` of 4) is an
 * invalid model to ONNX Runtime, which refuses to load it; a level the file does not state as an INT
 * must not count as 4 (the CPU engine then keeps int16 activation codes).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeOnnxModel } from '../../src/builder/write-onnx.ts';
import { readOnnxInitializers } from '../../src/cpu-engine/onnx-reader.ts';
import { memoryWeights, randomTensors, TINY_SPECS } from '../helpers/onnx-fixtures.ts';

let root: string;
let file: Uint8Array;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'edgetier-accuracy-level-'));
  const spec = TINY_SPECS['llama untied']!;
  const written = await writeOnnxModel(spec, memoryWeights(randomTensors(spec, 3)), 'q4', join(root, 'm'), {
    q4AccuracyLevel: 4,
  });
  file = new Uint8Array(await readFile(written.file));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** AttributeProto { name: "accuracy_level", i: 4, type: INT (2) } as the converter writes it. */
const ATTRIBUTE = Buffer.from('\n\x0eaccuracy_level\x18\x04\xa0\x01\x02', 'latin1');

/** The file with every accuracy_level attribute's `type` byte set to `type` (same length). */
function withType(type: number): Buffer {
  const b = Buffer.from(file);
  let edited = 0;
  for (let at = b.indexOf(ATTRIBUTE); at >= 0; at = b.indexOf(ATTRIBUTE, at + 1)) {
    b[at + ATTRIBUTE.length - 1] = type;
    edited++;
  }
  expect(edited).toBeGreaterThan(0);
  return b;
}

describe('MatMulNBits accuracy_level of another attribute type', () => {
  it.each([
    ['INTS', 7],
    ['FLOAT', 1],
  ])(
    'type %s with a stray i = 4: ONNX Runtime refuses the file; the reader must not read level 4',
    async (_, type) => {
      const edited = withType(type);
      const path = join(root, `type-${type}.onnx`);
      await writeFile(path, edited);
      await expect(ort.InferenceSession.create(path)).rejects.toThrow(/invalid model/i);
      const levels = readOnnxInitializers(edited).matMulNBitsAccuracy;
      expect(levels.length).toBeGreaterThan(0);
      expect(levels.some((level) => level === 4)).toBe(false);
    },
  );
});
