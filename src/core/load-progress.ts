/**
 * Turns transformers.js's progress events (initiate / download / progress / done, per file) into
 * edgetier's LoadProgress: bytes per file and in total, a rate and an ETA, on an injectable clock.
 * Raw library objects never leave the worker; the page gets these figures only, at most every
 * `minIntervalMs` (plus the last event of each file), so a large download does not flood the
 * message channel.
 */
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
}

export const DEFAULT_PROGRESS_INTERVAL_MS = 100;

export class LoadProgressTracker {
  private readonly files = new Map<string, FileState>();
  private startMs: number | null = null;
  private lastEmitMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly emit: (progress: LoadProgress) => void,
    private readonly clock: Clock = defaultClock,
    private readonly minIntervalMs = DEFAULT_PROGRESS_INTERVAL_MS,
  ) {}

  /** Feed one library event; emits a LoadProgress when it is worth sending. */
  onEvent(event: LibraryProgressEvent): void {
    const file = event.file;
    if (!file) return;
    if (this.startMs === null) this.startMs = this.clock();
    const state = this.files.get(file) ?? { loaded: 0, total: 0 };
    this.files.set(file, state);
    let final = false;
    if (event.status === 'progress') {
      state.loaded = Math.max(state.loaded, event.loaded ?? 0);
      state.total = Math.max(state.total, event.total ?? 0, state.loaded);
      final = state.total > 0 && state.loaded >= state.total;
    } else if (event.status === 'done') {
      state.total = Math.max(state.total, state.loaded);
      state.loaded = state.total;
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

  snapshot(file: string, nowMs = this.clock()): LoadProgress {
    const state = this.files.get(file) ?? { loaded: 0, total: 0 };
    let allLoaded = 0;
    let allTotal = 0;
    for (const s of this.files.values()) {
      allLoaded += s.loaded;
      allTotal += s.total;
    }
    const elapsedSec = this.startMs === null ? 0 : (nowMs - this.startMs) / 1000;
    const bytesPerSec = elapsedSec > 0 ? allLoaded / elapsedSec : 0;
    const remaining = Math.max(0, allTotal - allLoaded);
    const etaSec = remaining === 0 ? 0 : bytesPerSec > 0 ? remaining / bytesPerSec : null;
    return {
      file,
      loadedBytes: state.loaded,
      totalBytes: state.total,
      allLoadedBytes: allLoaded,
      allTotalBytes: allTotal,
      bytesPerSec,
      etaSec,
    };
  }
}
