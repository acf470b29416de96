/**
 * A hand-written protobuf encoder for the subset of ONNX's ModelProto that the graph builder emits.
 *
 * Why not a protobuf library: a model is mostly weight bytes, and a generic encoder wants the whole
 * message in memory before it can write the length prefixes. Here a message is a list of segments:
 * small eager byte arrays (field tags, names, node lists) and lazy tensor payloads whose byte length
 * is known up front but whose bytes are produced only when the writer reaches them. Lengths of every
 * enclosing message are therefore computable without the data, and the writer streams one tensor at a
 * time (see writer.ts). Only the wire types ONNX needs are here: varint (0) and length-delimited (2),
 * plus fixed32 for float attributes (5).
 */

/** Tensor bytes that exist only when the writer asks for them. */
export interface LazyBytes {
  readonly byteLength: number;
  produce(): Promise<Uint8Array>;
}

/** An initializer's payload placed in an external data file instead of inline `raw_data`. */
export interface ExternalPayload {
  readonly kind: 'external';
  readonly data: LazyBytes;
  /** Index of the data file (0 = `<model>_data`, 1 = `<model>_data_1`, …). */
  readonly chunk: number;
  readonly offset: number;
}

export interface InlinePayload {
  readonly kind: 'inline';
  readonly data: LazyBytes;
}

export type Segment = Uint8Array | InlinePayload | ExternalPayload;

export function segmentLength(s: Segment): number {
  if (s instanceof Uint8Array) return s.length;
  return s.kind === 'inline' ? s.data.byteLength : 0;
}

export function segmentsLength(segments: readonly Segment[]): number {
  let n = 0;
  for (const s of segments) n += segmentLength(s);
  return n;
}

function varintBytes(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const utf8 = new TextEncoder();

/** Builds one message's segments field by field. */
export class MessageWriter {
  private readonly segments: Segment[] = [];
  private pending: number[] = [];

  private flush(): void {
    if (this.pending.length > 0) {
      this.segments.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  private tag(field: number, wireType: number): void {
    this.pending.push(...varintBytes((field << 3) | wireType));
  }

  varint(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.pending.push(...varintBytes(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.pending.push(...b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.pending.push(...varintBytes(value.length));
    this.flush();
    this.segments.push(value);
    return this;
  }

  /** A nested message (or any length-delimited payload made of segments). */
  message(field: number, child: readonly Segment[]): this {
    this.tag(field, 2);
    this.pending.push(...varintBytes(segmentsLength(child)));
    this.flush();
    for (const s of child) this.segments.push(s);
    return this;
  }

  /** Packed repeated varints (proto3 default for repeated scalars; proto2 parsers accept it too). */
  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const body: number[] = [];
    for (const v of values) body.push(...varintBytes(v));
    return this.bytes(field, Uint8Array.from(body));
  }

  /** Inline payload as a length-delimited field whose bytes are produced later. */
  lazyBytes(field: number, data: LazyBytes): this {
    this.tag(field, 2);
    this.pending.push(...varintBytes(data.byteLength));
    this.flush();
    this.segments.push({ kind: 'inline', data });
    return this;
  }

  /** A zero-length marker: the writer streams `payload` to its data file when it gets here. */
  external(payload: ExternalPayload): this {
    this.flush();
    this.segments.push(payload);
    return this;
  }

  finish(): Segment[] {
    this.flush();
    return this.segments;
  }
}
