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

/** The shape of Comlink's transfer handler map, so this module need not import Comlink's DOM types. */
interface TransferHandlerLike {
  canHandle(value: unknown): boolean;
  serialize(value: unknown): [unknown, unknown[]];
  deserialize(value: unknown): unknown;
}

/**
 * Replaces Comlink's 'throw' handler on one side of the boundary: thrown values are mapped to an
 * EdgetierError and sent as SerializedError; received ones are rebuilt with their code. Register it
 * on both sides (the worker and the page).
 */
export function registerErrorTransfer(
  handlers: Map<string, TransferHandlerLike>,
  toEdgetier: (error: unknown) => EdgetierError,
): void {
  const original = handlers.get('throw');
  if (!original) throw new Error('Comlink has no "throw" transfer handler to replace');
  handlers.set('throw', {
    canHandle: (value) => original.canHandle(value),
    serialize: (wrapped) => [serializeError((wrapped as { value: unknown }).value, toEdgetier), []],
    deserialize: (data) => {
      throw isSerializedError(data) ? deserializeError(data) : data;
    },
  });
}
