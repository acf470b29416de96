/** The model cache's per-slice digests (workers/slice-digests.ts) against node:crypto, over uneven chunks and slice edges. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SLICE_BYTES, SliceDigests } from '../../workers/slice-digests.ts';

const reference = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('SliceDigests', () => {
  it('gives the SHA-256 of each SLICE_BYTES slice, whatever the chunks, and none for an empty file', async () => {
    expect(await new SliceDigests().done()).toEqual([]);
    const data = randomBytes(2 * SLICE_BYTES + 12_345);
    const expected = [0, 1, 2].map((i) => reference(data.subarray(i * SLICE_BYTES, (i + 1) * SLICE_BYTES)));
    for (const step of [SLICE_BYTES, 1_000_003, 65_536]) {
      const digests = new SliceDigests();
      for (let offset = 0; offset < data.length; offset += step)
        digests.add(data.subarray(offset, offset + step));
      expect(await digests.done()).toEqual(expected);
    }
  });

  it('gives one slice, the whole file, for a file that ends exactly at a slice edge', async () => {
    const data = randomBytes(SLICE_BYTES);
    const digests = new SliceDigests();
    digests.add(data);
    expect(await digests.done()).toEqual([reference(data)]);
  });
});
