import { css } from 'lit';

export const downloadProgressStyles = css`
  :host {
    display: block;
    font-size: 0.85rem;
  }
  .row {
    display: flex;
    flex-wrap: wrap;
    justify-content: space-between;
    gap: 0.2rem 1rem;
  }
  progress {
    width: 100%;
    height: 0.5rem;
    accent-color: var(--accent);
  }
`;
