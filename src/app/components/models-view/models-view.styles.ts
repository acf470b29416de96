import { css } from 'lit';

export const modelsViewStyles = css`
  h2 {
    font-size: 1rem;
    margin: 1.5rem 0 0.6rem;
  }
  .intro {
    margin: 0 0 0.8rem;
    color: var(--text-2);
    max-width: 60rem;
  }
  .device {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
    align-items: center;
    font-size: 0.85rem;
  }
  /* One chip per model, all the same width, so the bars share one linear scale. */
  .spectrum {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(5.6rem, 1fr));
    gap: 2px;
    margin: 0.8rem 0 0.2rem;
    padding: 0;
    list-style: none;
  }
  .spectrum li {
    display: flex;
    min-width: 0;
  }
  .spectrum a {
    flex: 1;
    min-width: 0;
    display: flex;
    flex-direction: column;
    align-items: stretch;
    text-align: left;
    gap: 0.15rem;
    padding: 0.35rem 0.5rem;
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: var(--radius);
    color: var(--text);
    text-decoration: none;
    font-size: 0.75rem;
  }
  .spectrum a.remote {
    background: var(--surface-2);
  }
  .spectrum .label {
    font-size: 0.8rem;
    line-height: 1.2;
    overflow-wrap: anywhere;
  }
  .spectrum .size-text {
    margin-top: auto;
  }
  .spectrum .size-text .badge {
    font-size: 0.65rem;
    padding: 0 0.3rem;
  }
  .spectrum .track {
    display: block;
    height: 0.35rem;
    border-radius: 999px;
    background: var(--surface-2);
    overflow: hidden;
  }
  .spectrum a.remote .track {
    background: var(--bg);
  }
  .spectrum .track.unknown {
    background: repeating-linear-gradient(
      -45deg,
      var(--border) 0 0.25rem,
      transparent 0.25rem 0.5rem
    );
  }
  .spectrum .size {
    display: block;
    height: 100%;
    border-radius: 999px;
    background: var(--accent);
  }
  .spectrum a.remote .size {
    background: var(--accent-2);
  }
  .axis {
    margin: 0.2rem 0 0;
    font-size: 0.75rem;
    color: var(--text-2);
  }
  .badge.warn {
    background: var(--warn-bg);
    color: var(--warn-text);
    border-color: transparent;
  }
  .grid {
    display: grid;
    grid-template-columns: repeat(auto-fill, minmax(min(100%, 19rem), 1fr));
    gap: 0.75rem;
  }
  article {
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: var(--radius-lg);
    padding: 0.8rem;
    display: flex;
    flex-direction: column;
    gap: 0.5rem;
  }
  article.selected {
    border-color: var(--accent);
    box-shadow: 0 0 0 1px var(--accent);
  }
  article h3 {
    font-size: 1rem;
    margin: 0;
    min-width: 0;
    overflow-wrap: anywhere;
  }
  .badges {
    display: flex;
    flex-wrap: wrap;
    gap: 0.25rem;
  }
  dl {
    display: grid;
    grid-template-columns: auto 1fr;
    gap: 0.2rem 0.75rem;
    margin: 0;
    font-size: 0.85rem;
  }
  dt {
    color: var(--text-2);
  }
  dd {
    margin: 0;
    font-variant-numeric: tabular-nums;
    min-width: 0;
    overflow-wrap: anywhere;
  }
  dd select {
    min-height: 1.9rem;
    padding: 0.1rem 0.3rem;
  }
  .note {
    font-size: 0.82rem;
    color: var(--text-2);
    margin: 0;
  }
  .fit {
    font-size: 0.82rem;
    margin: 0;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
    margin-top: auto;
  }
  table {
    border-collapse: collapse;
    width: 100%;
    font-size: 0.85rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.35rem 0.5rem;
    border-bottom: 1px solid var(--border);
    overflow-wrap: anywhere;
  }
  td.num,
  th.num {
    text-align: right;
  }
`;
