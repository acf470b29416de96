/**
 * The chat template's helper thread in Node: a worker_threads Worker (the native engine, and the
 * server's engine thread, render templates through it); its heap is capped so a template that builds
 * a huge string fails alone.
 *
 * The thread's code is plain JavaScript given as text: a worker cannot load the project's TypeScript
 * (tsx's loader does not reach worker threads here). It is `runTemplateJob` of template-budget.ts
 * restated; test/unit/template-budget.test.ts holds both to the same replies.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  DEFAULT_TEMPLATE_BUDGET,
  type TemplateBudget,
  type TemplateReply,
  type TemplateThread,
  ThreadTemplateRenderer,
} from '../runtime/template-budget.ts';

/** Heap for the helper thread: room for a template's largest legitimate output many times over. */
const TEMPLATE_THREAD_HEAP_MB = 256;

const JINJA = createRequire(import.meta.url).resolve('@huggingface/jinja');

const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Template } = require(workerData.jinja);
let compiled = null;
parentPort.on('message', (job) => {
  let text;
  try {
    if (!compiled || compiled.source !== job.template) compiled = { source: job.template, template: new Template(job.template) };
    text = compiled.template.render(job.context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    parentPort.postMessage({ ok: false, kind: 'failed', message });
    return;
  }
  if (text.length > job.maxOutputChars) parentPort.postMessage({ ok: false, kind: 'too_long', message: '', chars: text.length });
  else parentPort.postMessage({ ok: true, text });
});
`;

export function nodeTemplateThread(): TemplateThread {
  const worker = new Worker(THREAD_SOURCE, {
    eval: true,
    workerData: { jinja: JINJA },
    resourceLimits: { maxOldGenerationSizeMb: TEMPLATE_THREAD_HEAP_MB },
  });
  // An idle helper must not keep the process alive.
  worker.unref();
  return {
    post: (job) => worker.postMessage(job),
    onReply: (listener) => {
      worker.on('message', (reply: TemplateReply) => listener(reply));
      worker.on('error', (error) => listener(error));
    },
    terminate: () => void worker.terminate(),
  };
}

export function nodeTemplateRenderer(
  budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET,
): ThreadTemplateRenderer {
  return new ThreadTemplateRenderer(nodeTemplateThread, budget);
}
