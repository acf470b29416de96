import { css } from 'lit';

export const compareViewStyles = css`
  .intro {
    margin: 0 0 0.8rem;
    color: var(--text-2);
  }
  form {
    display: grid;
    grid-template-columns: minmax(0, 1fr) auto;
    gap: 0.5rem;
    align-items: end;
  }
  .fields {
    display: grid;
    grid-template-columns: minmax(0, 1fr);
    gap: 0.4rem;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    align-items: center;
  }
  /* A tier named by a long served model must not widen the page at 360 px. */
  .row select {
    max-width: 100%;
    min-width: 0;
  }
  textarea {
    width: 100%;
    min-height: 3.2rem;
    resize: vertical;
  }
  .check {
    display: inline-flex;
    align-items: center;
    gap: 0.35rem;
  }
  .check input {
    min-height: auto;
    width: 1.1rem;
    height: 1.1rem;
    margin: 0;
  }
  .hint {
    font-size: 0.8rem;
    color: var(--text-2);
    margin: 0;
  }
  .tier-error {
    margin-top: 1rem;
    padding: 0.6rem 0.8rem;
    border: 1px solid var(--danger);
    border-radius: var(--radius-lg);
    background: var(--surface);
    overflow-wrap: anywhere;
  }
  .tier-error p {
    margin: 0 0 0.5rem;
  }
  .tier-error .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.6rem;
    align-items: center;
  }
  .panes {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(min(100%, 22rem), 1fr));
    gap: 0.75rem;
    margin-top: 1rem;
  }
  section {
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: var(--radius-lg);
    padding: 0.8rem;
    display: grid;
    grid-template-rows: auto minmax(8rem, auto) auto;
    gap: 0.5rem;
    min-width: 0;
  }
  section h2 {
    font-size: 0.95rem;
    margin: 0;
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
    align-items: center;
  }
  /* A tier names its model as it likes (up to 256 characters, no spaces): it wraps, not the pane. */
  .served {
    font-weight: 400;
    font-size: 0.82rem;
    overflow-wrap: anywhere;
    min-width: 0;
  }
  /* Text shown as written (Markdown that could not be rendered, or a long answer's tail). */
  .plain-text {
    white-space: pre-wrap;
  }
  .answer {
    overflow-wrap: anywhere;
    line-height: 1.5;
    max-height: 18rem;
    overflow-y: auto;
  }
  .answer pre {
    background: var(--code-bg);
    padding: 0.5rem;
    border-radius: var(--radius);
    overflow-x: auto;
  }
  .error {
    color: var(--danger);
    overflow-wrap: anywhere;
  }
  .tradeoff {
    margin-top: 1rem;
  }
  .table-wrap {
    overflow-x: auto;
  }
  table {
    border-collapse: collapse;
    width: 100%;
    font-size: 0.88rem;
    min-width: 20rem;
  }
  caption {
    text-align: left;
    font-weight: 700;
    padding-bottom: 0.4rem;
  }
  th,
  td {
    text-align: left;
    padding: 0.25rem 0.6rem;
    border-bottom: 1px solid var(--border);
    vertical-align: baseline;
  }
  td {
    font-variant-numeric: tabular-nums;
    overflow-wrap: anywhere;
  }
  td.better .value {
    color: var(--ok-text);
    font-weight: 600;
  }
  /* The word says it; the colour only repeats it. A tie is neutral. */
  .mark {
    display: inline-block;
    font-size: 0.72rem;
    font-weight: 600;
    padding: 0 0.4rem;
    border-radius: 999px;
    border: 1px solid var(--border);
    color: var(--text-2);
    background: var(--surface-2);
  }
  .mark.better {
    color: var(--ok-text);
    background: var(--ok-bg);
    border-color: transparent;
  }
  .mark.failed {
    color: var(--bad-text);
    background: var(--bad-bg);
    border-color: transparent;
  }
  .legend {
    font-size: 0.8rem;
    color: var(--text-2);
    margin: 0.35rem 0 0;
  }
`;
