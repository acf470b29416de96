/**
 * SHA-256 of each fixed-size slice of a file, with Web Crypto (native speed): taken while a model
 * file downloads, checked slice by slice when it is read back, so a load never hashes a whole file in
 * JavaScript and holds at most one slice in memory for it.
 */
/** Bytes per verified slice: bounds the memory a check holds at once. */
export const SLICE_BYTES = 8 * 1024 * 1024;

export const hex = (digest: ArrayBuffer) =>
  Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');

/** SHA-256 of each SLICE_BYTES slice of a stream of chunks, with Web Crypto; null where it is missing. */
export class SliceDigests {
  private chunks: Uint8Array[] = [];
  private filled = 0;
  private readonly digests: Promise<string>[] = [];
  private readonly subtle = globalThis.crypto?.subtle;

  add(chunk: Uint8Array): void {
    if (!this.subtle) return;
    let rest = chunk;
    while (rest.byteLength > 0) {
      const take = Math.min(SLICE_BYTES - this.filled, rest.byteLength);
      this.chunks.push(rest.subarray(0, take));
      this.filled += take;
      rest = rest.subarray(take);
      if (this.filled === SLICE_BYTES) this.flush();
    }
  }

  private flush(): void {
    const slice = new Uint8Array(this.filled);
    let at = 0;
    for (const chunk of this.chunks) {
      slice.set(chunk, at);
      at += chunk.byteLength;
    }
    this.chunks = [];
    this.filled = 0;
    this.digests.push(this.subtle!.digest('SHA-256', slice).then(hex));
  }

  async done(): Promise<string[] | null> {
    if (!this.subtle) return null;
    if (this.filled > 0) this.flush();
    return Promise.all(this.digests);
  }
}
