/**
 * A tiny inline-SVG line chart for inter-token latency. Hand-rolled on purpose: it is one polyline
 * over at most 120 points, redrawn a few times per second; a chart library would add tens of KB
 * and a canvas for that.
 */
import { html, LitElement, svg } from 'lit';
import { sparklineStyles } from './sparkline.styles.ts';

/** Points of a polyline in a 100 x 30 box; y grows downward, the top is the largest value. */
export function sparklinePoints(values: readonly number[], width = 100, height = 30): string {
  if (values.length === 0) return '';
  const max = Math.max(...values, 1e-9);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((v, i) => `${(i * step).toFixed(2)},${(height - (v / max) * height).toFixed(2)}`)
    .join(' ');
}

export class EtSparkline extends LitElement {
  static override styles = sparklineStyles;
  static override properties = { values: { attribute: false }, label: {} };

  declare values: number[];
  declare label: string;

  constructor() {
    super();
    this.values = [];
    this.label = '';
  }

  override render() {
    return html`<svg viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label=${this.label}>
      ${svg`<line x1="0" y1="30" x2="100" y2="30"></line>`}
      ${svg`<polyline points=${sparklinePoints(this.values)}></polyline>`}
    </svg>`;
  }
}

customElements.define('et-sparkline', EtSparkline);

declare global {
  interface HTMLElementTagNameMap {
    'et-sparkline': EtSparkline;
  }
}
