/**
 * Turns transformers.js's progress events into edgetier's LoadProgress (per file and in total, with
 * rate and ETA), and splits a load's time into fetching files and initialising the session: the last
 * `done` event marks the end of fetching.
 */
import type { LoadProgress } from '../core/engine.ts';
import { type Clock, defaultClock } from '../core/metrics.ts';

interface ProgressEvent {
  status?: string;
  file?: string;
  loaded?: number;
  total?: number;
}

export class LoadProgressTracker {
  private readonly files = new Map<string, { loaded: number; total: number }>();
  private readonly startMs: number;
  private lastDoneMs: number | null = null;

  constructor(
    private readonly onProgress?: (progress: LoadProgress) => void,
    private readonly clock: Clock = defaultClock,
  ) {
    this.startMs = clock();
  }

  /** Pass as transformers.js's `progress_callback`. */
  readonly callback = (raw: unknown): void => {
    const event = (raw ?? {}) as ProgressEvent;
    if (event.status === 'done') this.lastDoneMs = this.clock();
    if (event.status !== 'progress' || typeof event.file !== 'string') return;
    const loaded = Number(event.loaded ?? 0);
    const total = Number(event.total ?? 0);
    this.files.set(event.file, { loaded, total });
    if (!this.onProgress) return;
    let allLoaded = 0;
    let allTotal = 0;
    for (const f of this.files.values()) {
      allLoaded += f.loaded;
      allTotal += f.total;
    }
    const elapsedSec = (this.clock() - this.startMs) / 1000;
    const bytesPerSec = elapsedSec > 0 ? allLoaded / elapsedSec : 0;
    this.onProgress({
      file: event.file,
      loadedBytes: loaded,
      totalBytes: total,
      allLoadedBytes: allLoaded,
      allTotalBytes: allTotal,
      bytesPerSec,
      etaSec: bytesPerSec > 0 && allTotal >= allLoaded ? (allTotal - allLoaded) / bytesPerSec : null,
    });
  };

  /** Time spent fetching files, and the rest (session creation), at the end of a load. */
  timings(): { downloadMs: number; initMs: number } {
    const now = this.clock();
    const fetchedAt = this.lastDoneMs ?? this.startMs;
    return { downloadMs: fetchedAt - this.startMs, initMs: now - fetchedAt };
  }
}
