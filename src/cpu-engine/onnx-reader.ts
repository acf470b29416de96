/**
 * Reads the initializers of an ONNX file (ModelProto -> GraphProto -> TensorProto) without copying
 * their bytes: each tensor's data is a view into the file's buffer. The counterpart of
 * src/builder/onnx/proto.ts + model.ts (the writer), for the subset the converter writes; tensors
 * stored any other way (typed fields instead of raw_data, external data files) are refused by name.
 */
import { EdgetierError } from '../core/errors.ts';

export interface StoredTensor {
  name: string;
  /** TensorProto.DataType (see src/builder/onnx/model.ts ElemType). */
  elemType: number;
  dims: number[];
  /** raw_data: a view into the file's bytes, little-endian. */
  data: Uint8Array;
}

export interface OnnxInitializers {
  producerName: string;
  graphName: string;
  initializers: Map<string, StoredTensor>;
  /**
   * The accuracy_level of each com.microsoft MatMulNBits node, in graph order (0, ONNX Runtime's
   * default, where a node has none): 4 lets a kernel compute with int8 activations.
   */
  matMulNBitsAccuracy: number[];
}

const utf8 = new TextDecoder();

/** What to do about a damaged file: the words ORT's path gives (src/core/error-mapping.ts). */
const REMEDY = ' Delete the cached copy and download it again, or rebuild it with `edgetier convert`.';

/** A protobuf message's fields, one at a time. */
class Fields {
  private at: number;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly what: string,
  ) {
    this.at = start;
  }

  private corrupt(why: string): EdgetierError {
    return new EdgetierError(
      'weights_corrupt',
      `The model file is damaged or truncated (${this.what}: ${why}).${REMEDY}`,
    );
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.end) throw this.corrupt('truncated varint');
      const byte = this.buf[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
      if (scale > 2 ** 63) throw this.corrupt('varint too long');
    }
  }

  /** The next field as [number, wireType], or null at the end. */
  next(): [number, number] | null {
    if (this.at >= this.end) return null;
    const tag = this.varint();
    return [Math.floor(tag / 8), tag & 7];
  }

  /** [start, end) of a length-delimited field's payload. */
  bytes(): [number, number] {
    const length = this.varint();
    const start = this.at;
    if (start + length > this.end) throw this.corrupt('a field runs past its message');
    this.at += length;
    return [start, start + length];
  }

  string(): string {
    const [start, end] = this.bytes();
    return utf8.decode(this.buf.subarray(start, end));
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.at += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.at += 4;
    else throw this.corrupt(`wire type ${wireType}`);
    if (this.at > this.end) throw this.corrupt('a field runs past its message');
  }
}

function readTensor(buf: Uint8Array, start: number, end: number): StoredTensor {
  const f = new Fields(buf, start, end, 'TensorProto');
  const tensor: StoredTensor = { name: '', elemType: 0, dims: [], data: new Uint8Array(0) };
  let hasRaw = false;
  let external = false;
  let typedField = 0;
  for (let field = f.next(); field; field = f.next()) {
    const [number, wire] = field;
    if (number === 1 && wire === 0) tensor.dims.push(f.varint());
    else if (number === 1 && wire === 2) {
      const [s, e] = f.bytes();
      const packed = new Fields(buf, s, e, 'TensorProto.dims');
      while (!packed.done) tensor.dims.push(packed.varint());
    } else if (number === 2 && wire === 0) tensor.elemType = f.varint();
    else if (number === 8 && wire === 2) tensor.name = f.string();
    else if (number === 9 && wire === 2) {
      const [s, e] = f.bytes();
      tensor.data = buf.subarray(s, e);
      hasRaw = true;
    } else if (number === 14 && wire === 0) external = f.varint() === 1;
    else if ([4, 5, 6, 7, 10, 11].includes(number)) {
      typedField = number;
      f.skip(wire);
    } else f.skip(wire);
  }
  if (external) {
    throw new EdgetierError(
      'unsupported_architecture',
      `Initializer ${tensor.name} is stored in an external data file, which the CPU engine does not read yet.`,
    );
  }
  if (!hasRaw && typedField !== 0) {
    throw new EdgetierError(
      'unsupported_architecture',
      `Initializer ${tensor.name} is stored in TensorProto field ${typedField} instead of raw_data, which the CPU engine does not read.`,
    );
  }
  return tensor;
}

/** AttributeProto.AttributeType INT. */
const ATTRIBUTE_INT = 2;

/**
 * A NodeProto's accuracy_level when it is a com.microsoft MatMulNBits node (0, ORT's default, where
 * it has none); null for any other op. A level not stated as an INT attribute (ORT refuses such a
 * file) reads as -1, which no kernel path treats as 4.
 */
function matMulNBitsAccuracy(buf: Uint8Array, start: number, end: number): number | null {
  const f = new Fields(buf, start, end, 'NodeProto');
  let op = '';
  let domain = '';
  let level = 0;
  for (let field = f.next(); field; field = f.next()) {
    const [number, wire] = field;
    if (number === 4 && wire === 2) op = f.string();
    else if (number === 7 && wire === 2) domain = f.string();
    else if (number === 5 && wire === 2) {
      const [as, ae] = f.bytes();
      const attribute = new Fields(buf, as, ae, 'AttributeProto');
      let name = '';
      let value = 0;
      let type = 0;
      for (let a = attribute.next(); a; a = attribute.next()) {
        if (a[0] === 1 && a[1] === 2) name = attribute.string();
        else if (a[0] === 3 && a[1] === 0) value = attribute.varint();
        else if (a[0] === 20 && a[1] === 0) type = attribute.varint();
        else attribute.skip(a[1]);
      }
      if (name === 'accuracy_level') level = type === ATTRIBUTE_INT ? value : -1;
    } else f.skip(wire);
  }
  return op === 'MatMulNBits' && domain === 'com.microsoft' ? level : null;
}

/**
 * Parses `file` (a whole .onnx file) and returns its initializers by name (and of its nodes, what the
 * CPU engine computes differently by: MatMulNBits's accuracy_level).
 */
export function readOnnxInitializers(file: Uint8Array): OnnxInitializers {
  const out: OnnxInitializers = {
    producerName: '',
    graphName: '',
    initializers: new Map(),
    matMulNBitsAccuracy: [],
  };
  const model = new Fields(file, 0, file.length, 'ModelProto');
  let sawGraph = false;
  for (let field = model.next(); field; field = model.next()) {
    const [number, wire] = field;
    if (number === 2 && wire === 2) out.producerName = model.string();
    else if (number === 7 && wire === 2) {
      sawGraph = true;
      const [gs, ge] = model.bytes();
      const graph = new Fields(file, gs, ge, 'GraphProto');
      for (let g = graph.next(); g; g = graph.next()) {
        const [gn, gw] = g;
        if (gn === 2 && gw === 2) out.graphName = graph.string();
        else if (gn === 1 && gw === 2) {
          const [ns, ne] = graph.bytes();
          const level = matMulNBitsAccuracy(file, ns, ne);
          if (level !== null) out.matMulNBitsAccuracy.push(level);
        } else if (gn === 5 && gw === 2) {
          const [ts, te] = graph.bytes();
          const tensor = readTensor(file, ts, te);
          out.initializers.set(tensor.name, tensor);
        } else graph.skip(gw);
      }
    } else model.skip(wire);
  }
  if (!sawGraph) throw new EdgetierError('weights_corrupt', `The model file holds no graph.${REMEDY}`);
  return out;
}
