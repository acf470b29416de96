/**
 * How an error crosses the worker boundary: as plain data that keeps its code, rebuilt as an
 * EdgetierError on the other side. Comlink's own handler keeps only name/message/stack, so the page
 * could not tell "no WebGPU" from a failed download. Pure functions here; src/client and workers/
 * register them as Comlink's 'throw' transfer handler.
 */
import { EdgetierError, type EdgetierErrorCode } from './errors.ts';

export interface SerializedError {
  name: string;
  message: string;
  code: EdgetierErrorCode;
  stack?: string;
}

export function serializeError(error: unknown, toEdgetier: (e: unknown) => EdgetierError): SerializedError {
  const mapped = error instanceof EdgetierError ? error : toEdgetier(error);
  const out: SerializedError = { name: mapped.name, message: mapped.message, code: mapped.code };
  if (mapped.stack) out.stack = mapped.stack;
  return out;
}

export function deserializeError(data: SerializedError): EdgetierError {
  const error = new EdgetierError(data.code, data.message);
  if (data.stack) error.stack = data.stack;
  return error;
}

export function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SerializedError).code === 'string' &&
    typeof (value as SerializedError).message === 'string'
  );
}
