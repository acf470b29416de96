import { css } from 'lit';

export const benchViewStyles = css`
  :host {
    display: block;
    overflow-y: auto;
    padding: 1rem clamp(0.6rem, 3vw, 2rem) 2rem;
  }
  h1 {
    font-size: 1.35rem;
    margin: 0 0 0.25rem;
  }
`;
