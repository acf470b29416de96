/**
 * The native tier's engine thread: a NodeEngine in a worker_thread, so that loading a model and
 * running it (both hold the thread for seconds at a time) never stall the HTTP server's event loop.
 *
 * Protocol (structured clone over the worker port), stated here once:
 *   main → worker  { id, op: 'load' | 'generate' | 'fitPrompt' | 'resetConversation' | 'unload' | 'listCached' | 'deleteCached', arg }
 *                  (fitPrompt is not queued behind the running generation)
 *                  { op: 'interrupt' }                          (not queued, no reply)
 *                  { op: 'cancel', id }                         (ends that fitPrompt alone, no reply)
 *   worker → main  { id, type: 'chunk', chunk }                  (generate only, any number)
 *                  { id, type: 'done', result }
 *                  { id, type: 'error', code, message }         (EdgetierError code kept)
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Engine, StreamChunk } from '../core/engine.ts';
import { EdgetierError } from '../core/errors.ts';
import { NodeEngine, type NodeEngineOptions } from '../native/node-engine.ts';

export type EngineOp =
  | 'load'
  | 'generate'
  | 'fitPrompt'
  | 'resetConversation'
  | 'unload'
  | 'listCached'
  | 'deleteCached';

export type ToWorker =
  | { id: number; op: EngineOp; arg?: unknown }
  | { op: 'interrupt' }
  | { op: 'cancel'; id: number };

export type FromWorker =
  | { id: number; type: 'chunk'; chunk: StreamChunk }
  | { id: number; type: 'done'; result: unknown }
  | { id: number; type: 'error'; code: string; message: string };

if (parentPort) {
  const port = parentPort;
  const engine = new NodeEngine(workerData as NodeEngineOptions);
  /** The fits running now, by request id, so a `cancel` ends one of them. */
  const fits = new Map<number, AbortController>();
  port.on('message', async (message: ToWorker) => {
    if (message.op === 'interrupt') {
      await engine.interrupt();
      return;
    }
    if (message.op === 'cancel') {
      fits.get(message.id)?.abort();
      return;
    }
    const { id, op, arg } = message;
    try {
      let result: unknown;
      switch (op) {
        case 'load':
          result = await engine.load(arg as Parameters<Engine['load']>[0]);
          break;
        case 'generate':
          result = await engine.generate(arg as Parameters<Engine['generate']>[0], (chunk) =>
            port.postMessage({ id, type: 'chunk', chunk } satisfies FromWorker),
          );
          break;
        case 'fitPrompt': {
          const controller = new AbortController();
          fits.set(id, controller);
          try {
            result = await engine.fitPrompt(arg as Parameters<Engine['generate']>[0], controller.signal);
          } finally {
            fits.delete(id);
          }
          break;
        }
        case 'resetConversation':
          result = await engine.resetConversation();
          break;
        case 'unload':
          result = await engine.unload();
          break;
        case 'listCached':
          result = await engine.listCached();
          break;
        case 'deleteCached':
          result = await engine.deleteCached(arg as string);
          break;
      }
      port.postMessage({ id, type: 'done', result } satisfies FromWorker);
    } catch (error) {
      const code = error instanceof EdgetierError ? error.code : 'internal';
      const text = error instanceof Error ? error.message : String(error);
      port.postMessage({ id, type: 'error', code, message: text } satisfies FromWorker);
    }
  });
}
