/**
 * The helper thread a model's chat template renders in, started by the engine worker (a nested
 * Worker; see workers/template-thread.ts): one TemplateJob in, one TemplateReply out. The engine
 * worker terminates it when it runs past its time budget.
 */
import { Template } from '@huggingface/jinja';
import { runTemplateJob, type TemplateJob } from '../src/runtime/template-budget.ts';

self.onmessage = (event: MessageEvent<TemplateJob>) => {
  self.postMessage(runTemplateJob(Template, event.data));
};
