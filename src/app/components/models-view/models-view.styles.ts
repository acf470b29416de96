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
  .spectrum {
    display: flex;
    align-items: stretch;
    gap: 2px;
    margin: 0.8rem 0 0.2rem;
    overflow-x: auto;
    padding-bottom: 0.3rem;
  }
  .spectrum a {
    flex: 1 1 0;
    min-width: 4.75rem;
    overflow: hidden;
    display: flex;
    flex-direction: column;
    align-items: stretch;
    text-align: left;
    gap: 0.15rem;
    padding: 0.35rem 0.5rem;
    background: var(--surface);
    border: 1px solid var(--border);
    color: var(--text);
    text-decoration: none;
    font-size: 0.75rem;
  }
  .spectrum .size {
    display: block;
    max-width: 100%;
    height: 0.3rem;
    border-radius: 999px;
    background: var(--accent);
  }
  .spectrum a.remote .size {
    background: var(--accent-2);
  }
  .spectrum a:first-child {
    border-radius: var(--radius) 0 0 var(--radius);
  }
  .spectrum a:last-child {
    border-radius: 0 var(--radius) var(--radius) 0;
  }
  .spectrum a.remote {
    background: var(--surface-2);
  }
  .spectrum strong,
  .spectrum .muted {
    display: block;
    max-width: 100%;
  }
  .spectrum strong {
    font-size: 0.8rem;
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .axis {
    display: flex;
    justify-content: space-between;
    font-size: 0.72rem;
    color: var(--text-2);
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
