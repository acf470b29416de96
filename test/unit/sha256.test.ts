/** The worker's incremental SHA-256 against node:crypto, over sizes around block edges and odd chunkings. */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sha256 } from '../../workers/sha256.ts';

const reference = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('Sha256', () => {
  it('matches node:crypto for the empty input and "abc"', () => {
    expect(new Sha256().hex()).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(new Sha256().update(new TextEncoder().encode('abc')).hex()).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('matches node:crypto for every length 0..200 in one update', () => {
    const data = randomBytes(200);
    for (let n = 0; n <= 200; n++)
      expect(new Sha256().update(data.subarray(0, n)).hex()).toBe(reference(data.subarray(0, n)));
  });

  it('matches node:crypto when the input arrives in uneven chunks', () => {
    const data = randomBytes(100_003);
    for (const step of [1, 7, 63, 64, 65, 4096, 33_333]) {
      const hasher = new Sha256();
      for (let offset = 0; offset < data.length; offset += step)
        hasher.update(data.subarray(offset, offset + step));
      expect(hasher.hex()).toBe(reference(data));
    }
  });
});
