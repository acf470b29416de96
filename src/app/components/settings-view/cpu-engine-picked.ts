/**
 * Settings' line under the CPU engine setting: what the setting picked for the loaded on-device
 * model, and why. Apart from the view (no Lit), so the unit tests read it.
 */
import type { LoadInfo } from '../../../core/engine.ts';

/** The line, or null where no CPU runtime was chosen (nothing loaded, WebGPU, a remote tier). */
export function cpuEnginePickedLine(info: LoadInfo | null): string | null {
  if (!info?.runtimeChoice || info.device !== 'wasm') return null;
  const runs = info.engine === 'edgetier-wasm' ? "edgetier's CPU engine" : 'ONNX Runtime';
  const planned = info.fallback?.plannedDtype;
  // The re-planned dtype continues the reason's sentence: its own full stop goes.
  const reason = planned ? info.fallback!.reason.replace(/\.$/, '') : info.fallback?.reason;
  const replanned = planned ? `; ${planned} was planned for it, so ONNX Runtime loads ${info.dtype}` : '';
  const why = info.fallback
    ? `edgetier's CPU engine refused it (${reason}${replanned})`
    : info.runtimeChoice.reason.replace(/^auto: /, '');
  return `The loaded model runs on ${runs}: ${why}`;
}
