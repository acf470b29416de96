/**
 * The ONNX structures the graph builder produces (a small, typed subset of onnx.proto), and their
 * encoding into protobuf segments. Field numbers follow onnx/onnx.proto (IR version 8).
 */
import { type LazyBytes, MessageWriter, type Segment } from './proto.ts';

/** TensorProto.DataType values used here. */
export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
} as const;
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

export const ELEM_BYTES: Record<ElemType, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2 };

export interface TensorDef {
  name: string;
  elemType: ElemType;
  dims: readonly number[];
  data: LazyBytes;
}

export type AttributeDef =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'ints'; value: readonly number[] }
  | { name: string; kind: 'string'; value: string };

export interface NodeDef {
  opType: string;
  domain: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: readonly AttributeDef[];
}

/** A graph input/output: a tensor type with fixed (number) or symbolic (string) dims. */
export interface ValueInfoDef {
  name: string;
  elemType: ElemType;
  shape: readonly (number | string)[];
}

export interface GraphDef {
  name: string;
  nodes: readonly NodeDef[];
  initializers: readonly TensorDef[];
  inputs: readonly ValueInfoDef[];
  outputs: readonly ValueInfoDef[];
}

export interface ModelDef {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  opsets: readonly { domain: string; version: number }[];
  graph: GraphDef;
  metadata: Readonly<Record<string, string>>;
}

/** Where an initializer's bytes go: inline `raw_data`, or a range of an external data file. */
export type Placement =
  | { kind: 'inline' }
  | { kind: 'external'; chunk: number; location: string; offset: number };

function encodeAttribute(a: AttributeDef): Segment[] {
  const m = new MessageWriter().string(1, a.name);
  switch (a.kind) {
    case 'float':
      m.float(2, a.value).varint(20, 1);
      break;
    case 'int':
      m.varint(3, a.value).varint(20, 2);
      break;
    case 'string':
      m.string(4, a.value).varint(20, 3);
      break;
    case 'ints':
      for (const v of a.value) m.varint(8, v);
      m.varint(20, 7);
      break;
  }
  return m.finish();
}

function encodeNode(n: NodeDef): Segment[] {
  const m = new MessageWriter();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const a of n.attributes) m.message(5, encodeAttribute(a));
  if (n.domain) m.string(7, n.domain);
  return m.finish();
}

function encodeTensor(t: TensorDef, placement: Placement): Segment[] {
  const m = new MessageWriter();
  for (const d of t.dims) m.varint(1, d);
  m.varint(2, t.elemType).string(8, t.name);
  if (placement.kind === 'inline') {
    m.lazyBytes(9, t.data);
  } else {
    const entry = (key: string, value: string) =>
      new MessageWriter().string(1, key).string(2, value).finish();
    m.message(13, entry('location', placement.location));
    m.message(13, entry('offset', String(placement.offset)));
    m.message(13, entry('length', String(t.data.byteLength)));
    m.varint(14, 1); // DataLocation.EXTERNAL
    m.external({ kind: 'external', data: t.data, chunk: placement.chunk, offset: placement.offset });
  }
  return m.finish();
}

function encodeValueInfo(v: ValueInfoDef): Segment[] {
  const shape = new MessageWriter();
  for (const d of v.shape) {
    const dim = new MessageWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim.finish());
  }
  const tensorType = new MessageWriter().varint(1, v.elemType).message(2, shape.finish()).finish();
  const type = new MessageWriter().message(1, tensorType).finish();
  return new MessageWriter().string(1, v.name).message(2, type).finish();
}

/** The whole model as segments; `placeOf` decides where each initializer's bytes live. */
export function encodeModel(model: ModelDef, placeOf: (t: TensorDef) => Placement): Segment[] {
  const g = new MessageWriter();
  for (const n of model.graph.nodes) g.message(1, encodeNode(n));
  g.string(2, model.graph.name);
  for (const i of model.graph.inputs) g.message(11, encodeValueInfo(i));
  for (const o of model.graph.outputs) g.message(12, encodeValueInfo(o));
  // Initializers last, so the writer streams the big payloads after every small field.
  for (const t of model.graph.initializers) g.message(5, encodeTensor(t, placeOf(t)));

  const m = new MessageWriter()
    .varint(1, model.irVersion)
    .string(2, model.producerName)
    .string(3, model.producerVersion);
  for (const o of model.opsets)
    m.message(8, new MessageWriter().string(1, o.domain).varint(2, o.version).finish());
  for (const [key, value] of Object.entries(model.metadata)) {
    m.message(14, new MessageWriter().string(1, key).string(2, value).finish());
  }
  m.message(7, g.finish());
  return m.finish();
}
