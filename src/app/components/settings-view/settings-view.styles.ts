import { css } from 'lit';

export const settingsViewStyles = css`
  .wrap {
    max-width: 48rem;
  }
  h2 {
    font-size: 1rem;
    margin: 1.5rem 0 0.5rem;
  }
  fieldset {
    border: 1px solid var(--border);
    border-radius: var(--radius-lg);
    background: var(--surface);
    padding: 0.8rem;
    margin: 0 0 0.75rem;
    min-width: 0;
  }
  select,
  input:not([type='checkbox']) {
    width: 100%;
    min-width: 0;
  }
  legend {
    font-weight: 600;
    padding: 0 0.3rem;
  }
  .fields {
    display: grid;
    grid-template-columns: repeat(auto-fit, minmax(min(100%, 13rem), 1fr));
    gap: 0.6rem 0.8rem;
  }
  .field {
    display: grid;
    gap: 0.2rem;
    font-size: 0.88rem;
  }
  .check {
    display: flex;
    align-items: center;
    gap: 0.4rem;
    font-size: 0.88rem;
  }
  .check input {
    min-height: auto;
    width: 1.1rem;
    height: 1.1rem;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
    margin-top: 0.7rem;
    align-items: center;
  }
  .hint {
    font-size: 0.8rem;
    color: var(--text-2);
    margin: 0.3rem 0 0;
    /* A reason can name a file's initializer, one long word: it wraps on a 360 px screen. */
    overflow-wrap: anywhere;
  }
  .check-result {
    font-size: 0.88rem;
    margin: 0.5rem 0 0;
    overflow-wrap: anywhere;
  }
  .check-result:empty {
    display: none;
  }
  .check-result.ok {
    color: var(--ok-text);
  }
  .check-result.failed {
    color: var(--danger);
  }
`;
