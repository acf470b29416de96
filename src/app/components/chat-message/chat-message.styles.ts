import { css } from 'lit';

export const chatMessageStyles = css`
  :host {
    display: block;
    contain: layout style;
  }
  article {
    display: grid;
    gap: 0.3rem;
    padding: 0.6rem 0.8rem;
    border-radius: var(--radius-lg);
    max-width: 100%;
  }
  article.user {
    background: var(--user-bubble);
    margin-left: clamp(0rem, 8vw, 4rem);
  }
  article.assistant {
    background: var(--surface);
    border: 1px solid var(--border);
  }
  .who {
    display: flex;
    flex-wrap: wrap;
    gap: 0.4rem;
    align-items: center;
    font-size: 0.78rem;
    color: var(--text-2);
    font-weight: 600;
  }
  /* Text shown as written (Markdown that could not be rendered, or a long answer's tail). */
  .plain-text {
    white-space: pre-wrap;
  }
  .content {
    overflow-wrap: anywhere;
    line-height: 1.55;
    min-height: 1.55em;
  }
  .content > :first-child {
    margin-top: 0;
  }
  .content > :last-child {
    margin-bottom: 0;
  }
  .content pre {
    background: var(--code-bg);
    padding: 0.6rem 0.75rem;
    border-radius: var(--radius);
    overflow-x: auto;
    font-size: 0.85rem;
  }
  .content code {
    font-family: var(--mono);
    font-size: 0.9em;
  }
  .content :not(pre) > code {
    background: var(--code-bg);
    padding: 0.05rem 0.3rem;
    border-radius: 4px;
  }
  .content table {
    border-collapse: collapse;
    display: block;
    overflow-x: auto;
  }
  .content th,
  .content td {
    border: 1px solid var(--border);
    padding: 0.25rem 0.5rem;
  }
  .content blockquote {
    margin: 0;
    padding-left: 0.8rem;
    border-left: 3px solid var(--border);
    color: var(--text-2);
  }
  details {
    border-left: 3px solid var(--accent-2);
    padding: 0.2rem 0.6rem;
    background: var(--surface-2);
    border-radius: 0 var(--radius) var(--radius) 0;
    font-size: 0.88rem;
  }
  summary {
    cursor: pointer;
    color: var(--text-2);
    font-weight: 600;
  }
  .reasoning {
    white-space: pre-wrap;
    color: var(--text-2);
    margin: 0.3rem 0 0;
  }
  footer {
    display: flex;
    flex-wrap: wrap;
    gap: 0.3rem 0.6rem;
    align-items: center;
    font-size: 0.78rem;
    color: var(--text-2);
    min-height: 2.25rem;
  }
  .actions {
    display: flex;
    gap: 0.2rem;
    margin-left: auto;
  }
  .actions button {
    min-height: 2rem;
    padding: 0.2rem 0.5rem;
    font-size: 0.8rem;
  }
  /* Nothing sits below the growing text while it streams, so nothing is pushed down (no layout
     shift); the figures and actions appear once the answer is done. */
  .streaming footer {
    display: none;
  }
  .error {
    color: var(--danger);
    overflow-wrap: anywhere;
  }
  /* Foreign text (a model's name) never reorders the app's words around it. */
  bdi {
    unicode-bidi: isolate;
  }
  textarea {
    width: 100%;
    min-height: 5rem;
    resize: vertical;
  }
  .writing {
    animation: pulse 1.2s ease-in-out infinite;
  }
  @keyframes pulse {
    50% {
      opacity: 0.45;
    }
  }
  @media (prefers-reduced-motion: reduce) {
    .writing {
      animation: none;
    }
  }
`;
