import { css } from 'lit';

export const composerStyles = css`
  :host {
    display: block;
  }
  form {
    display: flex;
    gap: 0.5rem;
    align-items: flex-end;
  }
  textarea {
    flex: 1;
    min-width: 0;
    resize: none;
    min-height: 2.75rem;
    max-height: 12rem;
    line-height: 1.4;
    padding: 0.6rem 0.7rem;
  }
  .buttons {
    display: flex;
    gap: 0.35rem;
  }
  .buttons button {
    min-height: 2.75rem;
    /* Send and Stop swap in place: the same width, so nothing moves. */
    min-width: 4.5rem;
    justify-content: center;
  }
  .hint {
    font-size: 0.75rem;
    color: var(--text-2);
    margin: 0.25rem 0 0;
  }
  @media (max-width: 480px) {
    .hint {
      display: none;
    }
  }
`;
