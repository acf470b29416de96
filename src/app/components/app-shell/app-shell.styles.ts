import { css } from 'lit';

export const appShellStyles = css`
  :host {
    display: flex;
    flex-direction: column;
    height: 100dvh;
    color: var(--text);
    background: var(--bg);
  }
  header {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.5rem 1rem;
    padding: 0.5rem 1rem;
    border-bottom: 1px solid var(--border);
    background: var(--surface);
  }
  .brand {
    font-weight: 700;
    font-size: 1.05rem;
    display: flex;
    align-items: center;
    gap: 0.4rem;
    color: var(--text);
    text-decoration: none;
  }
  .brand svg {
    width: 1.4rem;
    height: 1.4rem;
  }
  nav {
    min-width: 0;
  }
  nav ul {
    display: flex;
    gap: 0.15rem;
    list-style: none;
    margin: 0;
    padding: 0;
    overflow-x: auto;
  }
  nav a {
    display: inline-block;
    padding: 0.4rem 0.7rem;
    border-radius: var(--radius);
    color: var(--text-2);
    text-decoration: none;
    font-weight: 500;
  }
  nav a[aria-current='page'] {
    color: var(--text);
    background: var(--surface-2);
    box-shadow: inset 0 -2px 0 var(--accent);
  }
  .model-picker {
    display: flex;
    align-items: center;
    gap: 0.4rem;
    margin-left: auto;
    min-width: 0;
  }
  .model-picker select {
    max-width: 16rem;
    min-width: 0;
  }
  .status {
    display: flex;
    align-items: center;
    gap: 0.4rem;
    font-size: 0.85rem;
  }
  .banner {
    margin: 0;
    overflow-wrap: anywhere;
    max-height: 8rem;
    overflow-y: auto;
    padding: 0.5rem 1rem;
    background: var(--bad-bg);
    color: var(--bad-text);
    border-bottom: 1px solid var(--border);
  }
  .banner button {
    margin-left: 0.6rem;
  }
  .banner.error {
    display: flex;
    align-items: flex-start;
    gap: 0.6rem;
    max-height: none;
    overflow-y: visible;
  }
  .banner.error .message {
    flex: 1;
    min-width: 0;
    max-height: 8rem;
    overflow-y: auto;
  }
  .banner.error button {
    flex: none;
    margin-left: 0;
  }
  .banner.notice {
    background: var(--surface-2);
    color: inherit;
  }
  .loading-bar {
    padding: 0.4rem 1rem;
    border-bottom: 1px solid var(--border);
    background: var(--surface);
  }
  main {
    flex: 1;
    min-height: 0;
    overflow: hidden;
    display: flex;
    flex-direction: column;
  }
  main > * {
    flex: 1;
    min-height: 0;
  }
  @media (max-width: 640px) {
    header {
      padding: 0.4rem 0.6rem;
      gap: 0.35rem 0.6rem;
    }
    .status {
      order: 1;
      margin-left: auto;
    }
    nav {
      order: 2;
      width: 100%;
    }
    .model-picker {
      order: 3;
      margin-left: 0;
      width: 100%;
    }
    .model-picker select {
      flex: 1;
      max-width: none;
    }
    nav ul {
      gap: 0;
      justify-content: space-between;
    }
    nav a {
      padding: 0.35rem 0.4rem;
      font-size: 0.92rem;
    }
  }
`;
