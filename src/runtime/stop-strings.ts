/**
 * Stop strings: generation ends when the decoded answer contains one of them, and the answer is cut
 * just before it. While streaming, text that could still grow into a stop string is held back, so a
 * stop string never reaches the page even in part.
 */

/** Index of the earliest stop string in `text`, or -1. */
export function findStop(text: string, stops: readonly string[]): number {
  let best = -1;
  for (const stop of stops) {
    if (!stop) continue;
    const at = text.indexOf(stop);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** `text` cut before its first stop string. */
export function cutAtStop(text: string, stops: readonly string[]): string {
  const at = findStop(text, stops);
  return at < 0 ? text : text.slice(0, at);
}

/**
 * How many characters at the end of `text` must be held back because they are a proper prefix of a
 * stop string (and so may become one when more tokens arrive).
 */
export function stopHoldback(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}
