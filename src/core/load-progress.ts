/**
 * Turns transformers.js's progress events (initiate / download / progress / done, per file) into
 * edgetier's LoadProgress: bytes per file and in total, a rate and an ETA, on an injectable clock.
 * Raw library objects never leave the worker; the page gets these figures only, at most every
 * `minIntervalMs` (plus the last event of each file), so a large download does not flood the
 * message channel.
 */
import { formatBytes } from './catalog.ts';
import type { LoadProgress } from './engine.ts';
import { type Clock, defaultClock } from './metrics.ts';

/** The subset of transformers.js's ProgressInfo that edgetier reads. */
export interface LibraryProgressEvent {
  status: string;
  file?: string;
  loaded?: number;
  total?: number;
}

interface FileState {
  loaded: number;
  total: number;
  /** Arrived whole ('done', or every byte of a known size). */
  done: boolean;
}

/** The model's weights (and their external data): once they are in, the runtime builds the model. */
const WEIGHT_FILE = /\.onnx(_data(_\d+)?)?$/;

export const DEFAULT_PROGRESS_INTERVAL_MS = 100;

export class LoadProgressTracker {
  private readonly files = new Map<string, FileState>();
  private startMs: number | null = null;
  private lastEmitMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly emit: (progress: LoadProgress) => void,
    private readonly clock: Clock = defaultClock,
    private readonly minIntervalMs = DEFAULT_PROGRESS_INTERVAL_MS,
    /** Whether a file (as the library names it) is read on this device rather than downloaded. */
    private readonly readLocally?: (file: string) => boolean,
  ) {}

  /** Feed one library event; emits a LoadProgress when it is worth sending. */
  onEvent(event: LibraryProgressEvent): void {
    const file = event.file;
    if (!file) return;
    if (this.startMs === null) this.startMs = this.clock();
    const state = this.files.get(file) ?? { loaded: 0, total: 0, done: false };
    this.files.set(file, state);
    let final = false;
    if (event.status === 'progress') {
      state.loaded = Math.max(state.loaded, event.loaded ?? 0);
      state.total = Math.max(state.total, event.total ?? 0, state.loaded);
      final = state.total > 0 && state.loaded >= state.total;
      state.done ||= final;
    } else if (event.status === 'done') {
      state.total = Math.max(state.total, state.loaded);
      state.loaded = state.total;
      state.done = true;
      final = true;
    } else {
      return;
    }
    const now = this.clock();
    if (!final && now - this.lastEmitMs < this.minIntervalMs) return;
    this.lastEmitMs = now;
    this.emit(this.snapshot(file, now));
  }

  /** Total bytes seen so far, for LoadInfo. */
  get totalBytes(): number {
    let sum = 0;
    for (const s of this.files.values()) sum += s.total;
    return sum;
  }

  /**
   * The figures now. The rate counts downloaded bytes only: a file read from the browser cache
   * arrives at disk speed and is no download. The phase turns to 'setup' once every file seen so far
   * has arrived whole and the weights are among them.
   */
  snapshot(file: string, nowMs = this.clock()): LoadProgress {
    const state = this.files.get(file) ?? { loaded: 0, total: 0, done: false };
    let allLoaded = 0;
    let allTotal = 0;
    let local = 0;
    let allDone = true;
    let weightsDone = false;
    for (const [name, s] of this.files) {
      allLoaded += s.loaded;
      allTotal += s.total;
      if (this.readLocally?.(name)) local += s.loaded;
      allDone &&= s.done;
      if (s.done && WEIGHT_FILE.test(name)) weightsDone = true;
    }
    const elapsedSec = this.startMs === null ? 0 : (nowMs - this.startMs) / 1000;
    const downloaded = allLoaded - local;
    const bytesPerSec = elapsedSec > 0 ? downloaded / elapsedSec : 0;
    const remaining = Math.max(0, allTotal - allLoaded);
    const etaSec = remaining === 0 ? 0 : bytesPerSec > 0 ? remaining / bytesPerSec : null;
    const progress: LoadProgress = {
      file,
      loadedBytes: state.loaded,
      totalBytes: state.total,
      allLoadedBytes: allLoaded,
      allTotalBytes: allTotal,
      bytesPerSec,
      etaSec,
      phase: allDone && weightsDone ? 'setup' : 'download',
    };
    if (this.readLocally) progress.localBytes = local;
    return progress;
  }

  /** The last figures again, as the set-up phase (the files are in; the model is being built). */
  setup(): LoadProgress | null {
    const last = [...this.files.keys()].at(-1);
    if (last === undefined) return null;
    return { ...this.snapshot(last), phase: 'setup' };
  }
}

/** Time left as people read it. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'estimating…';
  if (seconds < 1) return 'under a second left';
  if (seconds < 90) return `${Math.round(seconds)} s left`;
  return `${Math.round(seconds / 60)} min left`;
}

/**
 * The load strip's figures: what arrived, from where, and at what rate (downloads only). The set-up
 * says how much was downloaded and how much read from the browser cache, each where there was some.
 */
export function describeProgress(p: LoadProgress | null): string {
  if (!p) return 'starting…';
  if (p.fallback === 'onnxruntime') {
    return `On ONNX Runtime (edgetier's CPU engine could not run it): ${describeProgress({ ...p, fallback: undefined })}`;
  }
  const total = p.allTotalBytes;
  const done = p.allLoadedBytes;
  const local = Math.min(p.localBytes ?? 0, done);
  const allLocal = p.localBytes !== undefined && done > 0 && local >= done;
  if (p.phase === 'setup') {
    if (allLocal) return `Setting up the model… (${formatBytes(total)} read from the browser cache)`;
    if (local <= 0) return `Setting up the model… (${formatBytes(total)} downloaded)`;
    return `Setting up the model… (${formatBytes(done - local)} downloaded, ${formatBytes(local)} read from the browser cache)`;
  }
  const bytes = `${formatBytes(done)} of ${total > 0 ? formatBytes(total) : '?'}`;
  // Bytes read from the cache come at disk speed: a rate would read as an impossible download.
  if (allLocal) return `${bytes} · from the browser cache`;
  return `${bytes} · ${formatBytes(p.bytesPerSec)}/s · ${formatEta(p.etaSec)}`;
}
