/**
 * Generates a small byte-level BPE tokenizer (the GPT-2 scheme that SmolLM2, Qwen and Llama 3 use)
 * in the Hugging Face `tokenizer.json` format, trained deterministically on a built-in English
 * corpus. Ids: the special tokens first, then the 256 byte symbols, then one token per merge.
 * Any byte string round-trips, so generated text always decodes.
 */
import { TRAINING_CORPUS } from './bpe-corpus.ts';

export interface BpeTokenizerOptions {
  /** Special tokens, given ids 0..n-1 in this order. */
  specialTokens: string[];
  /** Total vocabulary (specials + 256 bytes + merges); fewer merges are made if the corpus runs out. */
  vocabSize: number;
  chatTemplate: string;
  bosToken: string | null;
  eosToken: string;
  padToken: string | null;
  unkToken?: string | null;
  modelMaxLength: number;
  /**
   * Fill the vocabulary up to vocabSize with decode-only tokens (corpus words, then pairs of them)
   * once the corpus runs out of merges, so that every id a model can emit decodes to text.
   */
  fillVocab?: boolean;
}

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** GPT-2's reversible map from bytes to printable unicode characters. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable.includes(b)) map[b] = String.fromCharCode(b);
    else map[b] = String.fromCharCode(256 + extra++);
  }
  return map;
}

/** GPT-2's pre-tokenisation pattern (what the ByteLevel pre-tokenizer applies with use_regex). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Learns up to `count` merges from `corpus`; ties broken by the pair's text, so runs are repeatable. */
function learnMerges(corpus: string, count: number): [string, string][] {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const match of corpus.matchAll(GPT2_SPLIT)) {
    const word = [...encoder.encode(match[0])].map((b) => byteChar[b]).join('');
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts].map(([w, n]) => ({ symbols: [...w], n }));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestCount = 1; // a pair seen once is not worth a token
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = n;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split('\u0000') as [string, string];
    merges.push([left, right]);
    for (const word of words) {
      const s = word.symbols;
      const merged: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === left && s[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(s[i] as string);
      }
      word.symbols = merged;
    }
  }
  return merges;
}

/** Adds corpus words, then word pairs, as tokens no merge produces: they decode but never encode. */
function fillDecodeOnly(vocab: Record<string, number>, nextId: number, vocabSize: number): number {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const words: string[] = [];
  for (const match of TRAINING_CORPUS.matchAll(GPT2_SPLIT)) {
    if (!/^ ?\p{L}+$/u.test(match[0])) continue;
    const word = [...encoder.encode(match[0])].map((b) => byteChar[b]).join('');
    if (!words.includes(word)) words.push(word);
  }
  let id = nextId;
  const add = (token: string) => {
    if (id < vocabSize && !(token in vocab)) vocab[token] = id++;
  };
  for (const w of words) add(w);
  for (let i = 0; i < words.length && id < vocabSize; i++) {
    for (let j = 0; j < words.length && id < vocabSize; j++) add((words[i] as string) + (words[j] as string));
  }
  return id;
}

export function makeBpeTokenizer(options: BpeTokenizerOptions): TokenizerFiles {
  const specials = options.specialTokens;
  const mergeBudget = options.vocabSize - specials.length - 256;
  if (mergeBudget < 0) throw new Error(`vocabSize ${options.vocabSize} leaves no room for the 256 bytes`);
  const merges = learnMerges(TRAINING_CORPUS, mergeBudget);

  // Special tokens sit in the model's vocabulary too, as in Hugging Face's own exports.
  const vocab: Record<string, number> = Object.fromEntries(specials.map((s, i) => [s, i]));
  let id = specials.length;
  for (const ch of bytesToUnicode()) vocab[ch] = id++;
  for (const [l, r] of merges) vocab[l + r] = id++;
  if (options.fillVocab) id = fillDecodeOnly(vocab, id, options.vocabSize);

  const addedTokens = specials.map((content, i) => ({
    id: i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedTokensDecoder = Object.fromEntries(addedTokens.map(({ id: i, ...rest }) => [String(i), rest]));
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: specials.filter(
      (s) => s !== options.bosToken && s !== options.eosToken && s !== options.padToken,
    ),
    bos_token: options.bosToken,
    chat_template: options.chatTemplate,
    clean_up_tokenization_spaces: false,
    eos_token: options.eosToken,
    model_max_length: options.modelMaxLength,
    pad_token: options.padToken,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: options.unkToken ?? null,
  };
  return { tokenizerJson, tokenizerConfig };
}
