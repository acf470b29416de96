import { css } from 'lit';

export const sparklineStyles = css`
  :host {
    display: block;
    height: 2.5rem;
  }
  svg {
    width: 100%;
    height: 100%;
    overflow: visible;
  }
  polyline {
    fill: none;
    stroke: var(--accent);
    stroke-width: 1.5;
    vector-effect: non-scaling-stroke;
  }
  line {
    stroke: var(--border);
    vector-effect: non-scaling-stroke;
  }
`;
