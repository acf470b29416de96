import { css } from 'lit';

export const benchViewStyles = css`
  h2 {
    font-size: 1.1rem;
    margin: 1.25rem 0 0.5rem;
  }
  form {
    display: grid;
    gap: 0.75rem;
    max-width: 40rem;
  }
  label {
    display: grid;
    gap: 0.25rem;
    font-size: 0.9rem;
  }
  .params {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr));
    gap: 0.75rem;
  }
  button.primary {
    justify-self: start;
  }
  .table-wrap {
    overflow-x: auto;
  }
  .table-wrap:focus-visible {
    outline: 2px solid currentColor;
    outline-offset: 2px;
  }
  table {
    border-collapse: collapse;
    font-size: 0.85rem;
  }
  caption {
    /* The caption is as wide as the table by default: on a phone it would run off sideways. */
    max-width: min(40rem, calc(100vw - 2rem));
    text-align: start;
    padding-bottom: 0.4rem;
    color: var(--muted, inherit);
  }
  th,
  td {
    padding: 0.3rem 0.6rem;
    border-bottom: 1px solid var(--border);
    text-align: start;
    white-space: nowrap;
  }
  td.num {
    text-align: end;
    font-variant-numeric: tabular-nums;
  }
  td.error {
    color: var(--danger);
    white-space: normal;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.5rem;
    margin-top: 0.75rem;
  }
`;
