import { css } from 'lit';

export const metricsPanelStyles = css`
  :host {
    display: block;
    font-size: 0.8rem;
  }
  .panel {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(5.5rem, 1fr));
    gap: 0.25rem 0.75rem;
    align-items: end;
    /* Fixed height: the figures update in place and never push the conversation around. */
    min-height: 3.4rem;
    position: relative;
  }
  .phase {
    position: absolute;
    inset: 0;
    z-index: 1;
    margin: 0;
    display: flex;
    align-items: center;
    background: var(--surface);
    font-weight: 600;
  }
  .stat {
    display: flex;
    flex-direction: column;
    min-width: 0;
  }
  .label {
    color: var(--text-2);
    white-space: nowrap;
  }
  .value {
    margin: 0;
    font-weight: 600;
    font-variant-numeric: tabular-nums;
    white-space: nowrap;
  }
  .split {
    display: flex;
    height: 0.4rem;
    border-radius: 999px;
    overflow: hidden;
    background: var(--surface-2);
    margin-top: 0.2rem;
  }
  .split span {
    display: block;
  }
  .split .prefill {
    background: var(--accent-2);
  }
  .split.has-data {
    background: var(--accent);
  }
  .chart {
    grid-column: span 2;
    min-width: 8rem;
  }
`;
