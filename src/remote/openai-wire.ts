/**
 * The parts of the OpenAI Chat Completions wire format edgetier speaks, as a client (the remote
 * tier) and as a server (`edgetier serve`). Field names are the wire's own.
 */
export type WireRole = 'system' | 'developer' | 'user' | 'assistant';

export interface WireMessage {
  role: WireRole;
  content: string;
}

export interface ChatCompletionRequest {
  model: string;
  messages: WireMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  /** Not in OpenAI's API; vLLM, llama.cpp and Ollama accept it. */
  top_k?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  seed?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  /** Not in OpenAI's API; vLLM and llama.cpp accept it. */
  repetition_penalty?: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/**
 * The finish reasons edgetier acts on, after wire-checks.ts maps other servers' names for them
 * ('eos_token', 'max_tokens', …). `tool_calls` and `function_call` are refused there: edgetier never
 * offers tools, so such an answer is not one it can show.
 */
export type WireFinishReason = 'stop' | 'length' | 'content_filter';

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
    };
    finish_reason: WireFinishReason | null;
  }[];
  usage?: Usage | null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; reasoning_content?: string };
    finish_reason: WireFinishReason | null;
  }[];
  usage?: Usage;
}

export interface WireModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  [extra: string]: unknown;
}

export interface ModelList {
  object: 'list';
  data: WireModel[];
}

/** OpenAI's error body. */
export interface WireError {
  error: { message: string; type: string; param: string | null; code: string | null };
}
