/**
 * Conversations kept in this browser only (IndexedDB), one record per conversation. Nothing here is
 * ever sent anywhere; deleting removes the record for good.
 */
import type { FinishReason } from '../../core/engine.ts';
import type { GenerationMetrics } from '../../core/metrics.ts';

export interface StoredMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  /** The thinking part of a reasoning model, kept apart from the answer. */
  reasoning?: string;
  /** Assistant messages: the figures measured for this answer. */
  metrics?: GenerationMetrics;
  modelName?: string;
  /** Assistant messages: the catalog key of the model that wrote it. */
  modelKey?: string;
  finishReason?: FinishReason;
  /** Assistant messages: whether it was answered on this device. */
  local?: boolean;
  error?: string;
}

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  messages: StoredMessage[];
  /** The catalog key and name of the model that wrote the latest answer (offered back on reopening). */
  modelKey?: string;
  modelName?: string;
}

/** A stored model name longer than this is shown cut, with an ellipsis (a damaged or hostile record). */
export const WRITER_NAME_MAX = 80;

/**
 * The model that wrote a conversation's latest answer: its own record, else (conversations saved
 * before it was kept) the latest answer's key or name. Null when no answer has been written. Only
 * strings are believed (a damaged record's key or name is dropped), and the name is cut to
 * WRITER_NAME_MAX characters.
 */
export function writerOf(conversation: Conversation): { key: string | null; name: string } | null {
  const text = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : null);
  const cut = (name: string) =>
    name.length > WRITER_NAME_MAX ? `${name.slice(0, WRITER_NAME_MAX - 1)}…` : name;
  const own = text(conversation.modelName);
  if (own) return { key: text(conversation.modelKey), name: cut(own) };
  const messages = Array.isArray(conversation.messages) ? conversation.messages : [];
  const last = [...messages].reverse().find((m) => m?.role === 'assistant' && text(m.modelName));
  return last ? { key: text(last.modelKey), name: cut(last.modelName!) } : null;
}

const DB_NAME = 'edgetier';
const STORE = 'conversations';

export function newId(): string {
  return crypto.randomUUID();
}

export class ConversationStore {
  #db: Promise<IDBDatabase> | null = null;

  constructor(private readonly dbName = DB_NAME) {}

  private db(): Promise<IDBDatabase> {
    this.#db ??= new Promise((resolve, reject) => {
      const request = indexedDB.open(this.dbName, 1);
      request.onupgradeneeded = () => {
        const store = request.result.createObjectStore(STORE, { keyPath: 'id' });
        store.createIndex('updatedAt', 'updatedAt');
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    return this.#db;
  }

  private async tx<T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.db();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = run(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }

  /** Newest first. */
  async list(): Promise<Conversation[]> {
    const all = await this.tx<Conversation[]>('readonly', (s) => s.getAll());
    return all.sort((a, b) => b.updatedAt - a.updatedAt);
  }

  async get(id: string): Promise<Conversation | undefined> {
    return this.tx<Conversation | undefined>('readonly', (s) => s.get(id));
  }

  async put(conversation: Conversation): Promise<void> {
    await this.tx('readwrite', (s) => s.put(conversation));
  }

  async delete(id: string): Promise<void> {
    await this.tx('readwrite', (s) => s.delete(id));
  }

  async clear(): Promise<void> {
    await this.tx('readwrite', (s) => s.clear());
  }
}

/** A title from the first user message: its first line, shortened. */
export function titleFrom(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 48 ? `${line.slice(0, 47)}…` : line || 'New conversation';
}
