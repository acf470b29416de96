import { css } from 'lit';

export const chatViewStyles = css`
  :host {
    display: grid;
    grid-template-columns: 15rem minmax(0, 1fr);
    min-height: 0;
    height: 100%;
  }
  aside {
    border-right: 1px solid var(--border);
    background: var(--surface);
    display: flex;
    flex-direction: column;
    min-height: 0;
    padding: 0.6rem;
    gap: 0.5rem;
  }
  aside h2 {
    font-size: 0.8rem;
    text-transform: uppercase;
    letter-spacing: 0.05em;
    color: var(--text-2);
    margin: 0.4rem 0 0;
  }
  .aside-top {
    display: flex;
    gap: 0.4rem;
  }
  .aside-top .primary {
    flex: 1;
  }
  /* Only the overlay of narrow screens closes. */
  .aside-top .close {
    display: none;
  }
  aside ul {
    /* One column that never grows past the sidebar: a long title is cut, its delete button stays. */
    grid-template-columns: minmax(0, 1fr);
    list-style: none;
    margin: 0;
    padding: 0;
    overflow-y: auto;
    display: grid;
    gap: 0.15rem;
  }
  aside li {
    min-width: 0;
    display: flex;
    align-items: center;
    border-radius: var(--radius);
  }
  aside li[aria-current='true'] {
    background: var(--surface-2);
  }
  aside li .open {
    flex: 1;
    min-width: 0;
    justify-content: flex-start;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    display: block;
    text-align: left;
  }
  aside li .delete {
    flex: none;
    padding: 0.2rem 0.45rem;
  }
  .column {
    display: flex;
    flex-direction: column;
    min-height: 0;
    min-width: 0;
    position: relative;
  }
  .toolbar {
    display: none;
    gap: 0.4rem;
    padding: 0.4rem 0.6rem;
    border-bottom: 1px solid var(--border);
  }
  .writer {
    margin: 0;
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.3rem 0.75rem;
    padding: 0.4rem clamp(0.6rem, 3vw, 2rem);
    border-bottom: 1px solid var(--border);
    background: var(--surface-2);
    font-size: 0.88rem;
    overflow-wrap: anywhere;
  }
  .messages {
    flex: 1;
    min-height: 0;
    overflow-y: auto;
    padding: 1rem clamp(0.6rem, 3vw, 2rem);
    display: flex;
    flex-direction: column;
    gap: 0.75rem;
    overflow-anchor: auto;
    scrollbar-gutter: stable;
  }
  .messages > * {
    max-width: 52rem;
    width: 100%;
    margin-inline: auto;
  }
  .empty {
    margin: auto;
    text-align: center;
    max-width: 28rem;
    color: var(--text-2);
  }
  .empty h1 {
    color: var(--text);
    font-size: 1.4rem;
  }
  .bottom {
    position: relative;
  }
  .bottom > .jump {
    position: absolute;
    top: 0;
    left: 50%;
    width: auto;
    transform: translate(-50%, -130%);
    z-index: 2;
    box-shadow: 0 2px 8px rgb(0 0 0 / 0.2);
  }
  .bottom {
    border-top: 1px solid var(--border);
    background: var(--surface);
    padding: 0.5rem clamp(0.6rem, 3vw, 2rem) 0.6rem;
    display: grid;
    gap: 0.5rem;
  }
  .bottom > * {
    max-width: 52rem;
    width: 100%;
    margin-inline: auto;
  }
  @media (max-width: 720px) {
    :host {
      grid-template-columns: minmax(0, 1fr);
    }
    aside {
      display: none;
    }
    aside.open {
      display: flex;
      position: absolute;
      z-index: 5;
      inset: auto 0 0 0;
      top: var(--header-h, 7rem);
      border-right: none;
      border-bottom: 1px solid var(--border);
      box-shadow: 0 8px 24px rgb(0 0 0 / 0.2);
    }
    .toolbar {
      display: flex;
    }
    .aside-top .close {
      display: inline-flex;
    }
    et-metrics-panel {
      font-size: 0.72rem;
    }
  }
`;
