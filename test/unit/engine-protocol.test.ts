import type { Remote } from 'comlink';
import { expect, expectTypeOf, it } from 'vitest';
import type { BackendPlan } from '../../src/core/backend-plan.ts';
import type { Capabilities } from '../../src/core/capabilities.ts';
import type { GenerateResult } from '../../src/core/engine.ts';
import {
  ENGINE_PROTOCOL_VERSION,
  type EngineWorkerApi,
  type LoadedInfo,
} from '../../src/core/engine-protocol.ts';

// Pins the page's view of the worker: a change here must be deliberate (and bump the version).
it('exposes the engine worker API through Comlink with promise-returning methods', () => {
  type Api = Remote<EngineWorkerApi>;
  expectTypeOf<Api['protocolVersion']>().returns.toEqualTypeOf<Promise<number>>();
  expectTypeOf<Api['capabilities']>().returns.toEqualTypeOf<Promise<Capabilities>>();
  expectTypeOf<Api['plan']>().returns.toEqualTypeOf<Promise<BackendPlan>>();
  expectTypeOf<Api['load']>().returns.toEqualTypeOf<Promise<LoadedInfo>>();
  expectTypeOf<Api['generate']>().returns.toEqualTypeOf<Promise<GenerateResult>>();
  expectTypeOf<Api['interrupt']>().returns.toEqualTypeOf<Promise<void>>();
  expectTypeOf<Api['memory']>().returns.toEqualTypeOf<
    Promise<{ wasmHeapBytes: number | null; gpuBufferBytes: number | null; cpuEngineBytes: number | null }>
  >();
  expectTypeOf<keyof EngineWorkerApi>().toEqualTypeOf<
    | 'protocolVersion'
    | 'ortBuild'
    | 'configure'
    | 'capabilities'
    | 'probeModel'
    | 'plan'
    | 'load'
    | 'generate'
    | 'interrupt'
    | 'resetConversation'
    | 'unload'
    | 'memory'
    | 'listCached'
    | 'deleteCached'
    | 'clearCache'
  >();
  expect(ENGINE_PROTOCOL_VERSION).toBe(2);
});
