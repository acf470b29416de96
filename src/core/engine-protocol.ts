/**
 * The whole cross-thread contract between the page (src/client) and the engine worker
 * (workers/engine.worker.ts), in one exported type. Comlink turns it into `Remote<EngineWorkerApi>`
 * on the page; test/unit/engine-protocol.test.ts pins that shape so a change here is a deliberate
 * one. Callbacks travel as Comlink proxies; errors travel as EdgetierError with their code (see
 * error-transfer.ts). Bump ENGINE_PROTOCOL_VERSION whenever a method or payload changes.
 */
import type { BackendPlan, ModelFacts, OrtBuild, PlanOverride } from './backend-plan.ts';
import type { Capabilities } from './capabilities.ts';
import type {
  CachedModel,
  CpuRuntime,
  GenerateRequest,
  GenerateResult,
  LoadInfo,
  LoadProgress,
  LoadRequest,
  ModelSource,
  StreamChunk,
} from './engine.ts';

export const ENGINE_PROTOCOL_VERSION = 2;

/** The part of a DOM Blob/File the engine reads; keeps src/core free of DOM types. */
export interface BlobLike {
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** A model folder the visitor picked from disk: its files by path relative to the picked folder. */
export interface PickedFolderSource {
  kind: 'files';
  name: string;
  files: ReadonlyArray<{ path: string; blob: BlobLike }>;
}

/** What the browser engine can load: the shared sources plus a picked folder. */
export type BrowserModelSource = ModelSource | PickedFolderSource;

export interface WorkerLoadRequest extends Omit<LoadRequest, 'source' | 'runtime'> {
  source: BrowserModelSource;
  /** The runtime to run: the page (WorkerEngine) settles 'auto' before the worker sees the load. */
  runtime?: CpuRuntime;
  /** The ORT build; the worker loads exactly one per lifetime (see WorkerEngine). */
  build: OrtBuild;
}

/** Where the worker finds files that are not part of a model. */
export interface WorkerEnvironment {
  /** Mirror of the Hugging Face Hub for `hub` sources; default https://huggingface.co/. */
  remoteHost?: string;
  /** Copy downloaded model files into the Cache API for offline use. Default true. */
  useBrowserCache?: boolean;
}

export interface MemoryStats {
  /** Bytes of ORT's WebAssembly memory (it grows, it never shrinks); null before ORT starts. */
  wasmHeapBytes: number | null;
  /** Bytes of WebGPU buffers the session holds, where known. */
  gpuBufferBytes: number | null;
  /** Bytes of edgetier's CPU engine's WebAssembly memory (kept and reused, never shrinks); null before it ran. */
  cpuEngineBytes: number | null;
}

export interface LoadedInfo extends LoadInfo {
  build: OrtBuild;
  /** Bytes of model files fetched or read from the cache. */
  bytes: number;
}

export interface EngineWorkerApi {
  /** ENGINE_PROTOCOL_VERSION of the worker, checked by the page right after it starts. */
  protocolVersion(): number;
  /** The ORT build this worker runs, or null before its first load. */
  ortBuild(): OrtBuild | null;
  configure(environment: WorkerEnvironment): void;
  /** Detected once, then cached for the worker's life. */
  capabilities(): Promise<Capabilities>;
  /** Which dtypes a model folder offers and their sizes, read from response headers (HEAD). */
  probeModel(source: BrowserModelSource): Promise<ModelFacts>;
  plan(facts: ModelFacts, override?: PlanOverride): Promise<BackendPlan>;
  load(request: WorkerLoadRequest, onProgress?: (progress: LoadProgress) => void): Promise<LoadedInfo>;
  generate(request: GenerateRequest, onChunk?: (chunk: StreamChunk) => void): Promise<GenerateResult>;
  /** Stops the running generation after its current token. Never queued behind it. */
  interrupt(): void;
  resetConversation(): Promise<void>;
  /** Releases the ONNX Runtime session(s) and their memory. */
  unload(): Promise<void>;
  memory(): MemoryStats;
  listCached(): Promise<CachedModel[]>;
  deleteCached(id: string): Promise<void>;
  clearCache(): Promise<void>;
}
