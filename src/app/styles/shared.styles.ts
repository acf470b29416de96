/** Styles every component shares: buttons, fields, focus rings, the visually-hidden helper. */
import { css } from 'lit';

export const sharedStyles = css`
  :host {
    box-sizing: border-box;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  .visually-hidden {
    position: absolute !important;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  button,
  .button {
    font: inherit;
    font-size: 0.9rem;
    min-height: 2.25rem;
    padding: 0.35rem 0.8rem;
    border-radius: var(--radius);
    border: 1px solid var(--border);
    background: var(--surface-2);
    color: var(--text);
    cursor: pointer;
    text-decoration: none;
    display: inline-flex;
    align-items: center;
    gap: 0.35rem;
  }
  button:hover:not(:disabled) {
    border-color: var(--accent);
  }
  button.primary {
    background: var(--accent);
    border-color: var(--accent);
    color: var(--on-accent);
  }
  button.danger {
    color: var(--danger);
  }
  button.quiet {
    background: transparent;
    border-color: transparent;
  }
  button:disabled {
    opacity: 0.55;
    cursor: not-allowed;
  }
  :is(button, a, input, select, textarea, summary, [tabindex]):focus-visible {
    outline: 2px solid var(--focus);
    outline-offset: 2px;
  }
  input,
  select,
  textarea {
    font: inherit;
    color: var(--text);
    background: var(--surface);
    border: 1px solid var(--border);
    border-radius: var(--radius);
    padding: 0.4rem 0.55rem;
    min-height: 2.25rem;
  }
  a {
    color: var(--link);
  }
  .badge {
    display: inline-block;
    font-size: 0.72rem;
    font-weight: 600;
    letter-spacing: 0.02em;
    padding: 0.1rem 0.45rem;
    border-radius: 999px;
    border: 1px solid var(--border);
    background: var(--surface-2);
    color: var(--text-2);
    white-space: nowrap;
  }
  .badge.synthetic {
    background: var(--warn-bg);
    color: var(--warn-text);
    border-color: var(--warn-text);
  }
  .badge.ok {
    background: var(--ok-bg);
    color: var(--ok-text);
    border-color: transparent;
  }
  .badge.bad {
    background: var(--bad-bg);
    color: var(--bad-text);
    border-color: transparent;
  }
  .muted {
    color: var(--text-2);
  }
  .num {
    font-variant-numeric: tabular-nums;
  }
`;

/** The frame of a full-page view (Models, Compare, Bench, Settings): scrolling, padding, its title. */
export const viewPageStyles = css`
  :host {
    display: block;
    /* The containing block of what it positions (visually hidden text): else that text sits at its
       place in the long page, outside this scroller, and the document grows a blank tail. */
    position: relative;
    overflow-y: auto;
    padding: 1rem clamp(0.6rem, 3vw, 2rem) 2rem;
  }
  h1 {
    font-size: 1.35rem;
    margin: 0 0 0.25rem;
  }
`;
