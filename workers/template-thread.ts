/**
 * The chat template's helper thread in the browser: a Worker nested in the engine worker, so a
 * template that loops is terminated alone and the engine worker (its model, its queue) carries on.
 */
import {
  DEFAULT_TEMPLATE_BUDGET,
  type TemplateBudget,
  type TemplateReply,
  type TemplateThread,
  ThreadTemplateRenderer,
} from '../src/runtime/template-budget.ts';

export function browserTemplateThread(): TemplateThread {
  const worker = new Worker(new URL('./template.worker.ts', import.meta.url), { type: 'module' });
  return {
    post: (job) => worker.postMessage(job),
    onReply: (listener) => {
      worker.onmessage = (event: MessageEvent<TemplateReply>) => listener(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        listener(new Error(event.message || 'the template thread failed'));
      };
    },
    terminate: () => worker.terminate(),
  };
}

export function browserTemplateRenderer(
  budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET,
): ThreadTemplateRenderer {
  return new ThreadTemplateRenderer(browserTemplateThread, budget);
}
