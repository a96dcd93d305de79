import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import {
  type Engine,
  EngineError,
  type EngineModel,
  type FinishReason,
  type GenerateOptions,
  type Generation,
} from './engine.js';
import { type ChatMessage, ChatRequest, stopSequences } from './request.js';
import { numberedSlots, PooledEngineModel } from './slot-pool.js';

/**
 * The worker's fallback when no model can be had (an offline machine): a real extractive summarizer,
 * no LLM. It ranks the sentences of the text with TextRank (PageRank over TF-IDF cosine similarity)
 * times a mild lead-position prior, drops near-duplicates, and returns the best ones in their original
 * order, shaped as the prompt asks (short, bullets or paragraphs). A chat question that is not a
 * summary request is answered with the conversation's sentences most similar to it, or a plain
 * statement that none match: this engine only ever quotes, it never invents (nor translates).
 *
 * Token counts are APPROXIMATE: there is no tokenizer, so a "token" is a word, a punctuation mark or
 * one CJK character ({@link countApproxTokens}); answers stream one such token at a time.
 * The output is deterministic: the same request gives the same text, usage and pieces.
 */

/**
 * Models are named by the SHA-256 of their GGUF file; this engine has no file, so its id is the
 * SHA-256 of a fixed name, versioned so that a change of algorithm can be announced as a new model.
 */
export const EXTRACTIVE_MODEL_NAME = 'cocoon-extractive-v1';
export const EXTRACTIVE_MODEL_ID = createHash('sha256').update(EXTRACTIVE_MODEL_NAME).digest('hex');

export const ExtractiveEngineOptions = z.object({
  /** Multiplier of the network's token price, in ten-thousandths (default 10_000 = 1×). */
  priceCoefficient: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Approximate tokens of prompt plus answer one job may hold (default 32_768). */
  contextSize: z.number().int().min(256).max(1_048_576).default(32_768),
  /** Jobs ranked at once; more wait (default 4). */
  parallelJobs: z.number().int().min(1).max(256).default(4),
});
export type ExtractiveEngineOptions = z.input<typeof ExtractiveEngineOptions>;

export class ExtractiveEngine implements Engine {
  readonly gpu = 'cpu';
  readonly models: readonly ExtractiveEngineModel[];
  private closing = false;

  constructor(options: ExtractiveEngineOptions = {}) {
    this.models = [new ExtractiveEngineModel(ExtractiveEngineOptions.parse(options))];
  }

  model(id: string): ExtractiveEngineModel {
    const found = this.models.find((model) => model.id === id);
    if (!found) throw new EngineError('unknown_model', `this worker does not serve model ${id}`);
    if (this.closing) throw new EngineError('closed', 'the engine is shutting down');
    return found;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.models.map((model) => model.close()));
  }
}

/** Approximate tokens added per chat message (role and separators), as chat templates do. */
const MESSAGE_OVERHEAD_TOKENS = 4;

export class ExtractiveEngineModel extends PooledEngineModel<number> implements EngineModel {
  readonly id = EXTRACTIVE_MODEL_ID;
  readonly name = 'extractive (sentence ranking, no LLM)';
  readonly chatTemplate = 'extractive';
  readonly priceCoefficient: number;
  readonly contextSize: number;
  constructor(options: z.output<typeof ExtractiveEngineOptions>) {
    super(numberedSlots(options.parallelJobs));
    this.priceCoefficient = options.priceCoefficient;
    this.contextSize = options.contextSize;
  }

  close(): Promise<void> {
    return this.drain();
  }

  protected async run(input: ChatRequest, options: GenerateOptions): Promise<Generation> {
    const request = parseRequest(input);
    if (request.response_format !== undefined && request.response_format.type !== 'text') {
      throw new EngineError('invalid_request', 'the extractive engine cannot produce JSON output');
    }
    const task = readTask(request.messages);
    const promptTokens = request.messages.reduce(
      (total, message) => total + MESSAGE_OVERHEAD_TOKENS + countApproxTokens(message.content),
      0,
    );
    if (promptTokens >= this.contextSize) {
      throw new EngineError(
        'prompt_too_long',
        `the prompt has about ${promptTokens} tokens; this engine's context holds ${this.contextSize}`,
      );
    }
    const maxTokens = Math.min(
      request.max_tokens ?? Number.POSITIVE_INFINITY,
      options.maxTokens ?? Number.POSITIVE_INFINITY,
      this.contextSize - promptTokens,
    );

    let slot: number;
    try {
      slot = await this.slots.acquire(options.signal);
    } catch (error) {
      if (options.signal?.aborted) {
        return { text: '', usage: { promptTokens: 0, completionTokens: 0 }, finishReason: 'cancelled' };
      }
      throw error;
    }
    let text = '';
    let completionTokens = 0;
    const result = (finishReason: FinishReason): Generation => ({
      text,
      usage: { promptTokens, completionTokens },
      finishReason,
    });
    try {
      const answer = cutAtStop(composeAnswer(task), stopSequences(request));
      for (const piece of approxTokens(answer)) {
        // One event-loop turn per token, so an abort from anywhere lands mid-stream.
        await nextTurn();
        if (options.signal?.aborted) return result('cancelled');
        if (completionTokens >= maxTokens) return result('length');
        text += piece;
        completionTokens++;
        options.onText?.(piece);
      }
      return result('stop');
    } finally {
      this.slots.release(slot);
    }
  }
}

function parseRequest(input: unknown): ChatRequest {
  const parsed = ChatRequest.safeParse(input);
  if (parsed.success) return parsed.data;
  // Paths and codes only: zod messages can echo values, which are request content.
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.code}`);
  throw new EngineError('invalid_request', `invalid chat request (${issues.join('; ')})`);
}

/** The answer up to the first stop sequence, which is never emitted. */
function cutAtStop(answer: string, stops: readonly string[]): string {
  const positions = stops.map((stop) => answer.indexOf(stop)).filter((position) => position >= 0);
  return positions.length === 0 ? answer : answer.slice(0, Math.min(...positions));
}

// ---------------------------------------------------------------------------------------------------
// Approximate tokens

const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}';
/** A word, one CJK character, or one other non-space mark, each with the whitespace before it. */
const APPROX_TOKEN = new RegExp(`\\s*(?:[${CJK}]|[\\p{L}\\p{N}\\p{M}_]+|[^\\s])`, 'gu');

/** The pieces an answer streams as; their count is its approximate token count. */
export function approxTokens(text: string): string[] {
  return text.match(APPROX_TOKEN) ?? [];
}

/** Approximate tokens of a text: words, punctuation marks and CJK characters. */
export function countApproxTokens(text: string): number {
  return approxTokens(text).length;
}

// ---------------------------------------------------------------------------------------------------
// Reading the request

export type SummaryShape =
  | { kind: 'short'; maxChars: number }
  | { kind: 'bullets' }
  | { kind: 'detailed'; maxWords: number };

type Task =
  | { kind: 'summary'; text: string; title: string | undefined; shape: SummaryShape }
  | { kind: 'answer'; question: string; conversation: string[] };

const SUMMARY_WORDS =
  /summar|tl;?dr|\bgist\b|резюм|кратк\S* (?:изложи|перескаж|содерж)|перескаж|суммари|要約|总结|摘要|概要/iu;
/** A lead such as "Summarize this:" or a first line of instruction, before pasted text. */
const INSTRUCTION_LEAD = /^[^\n:]{0,200}(?::|\n)/u;
/** A message this short that mentions summaries is an instruction, not a text. */
const MAX_SENTENCES_OF_AN_INSTRUCTION = 2;
/** A pasted text with no instruction and no question still reads as a request to summarize it. */
const MIN_SENTENCES_OF_PASTED_TEXT = 4;

function readTask(messages: readonly ChatMessage[]): Task {
  const lastUser = messages.findLast((message) => message.role === 'user');
  if (!lastUser) throw new EngineError('invalid_request', 'the request has no user message');
  const instructions = messages
    .filter((message) => message.role === 'system')
    .map((message) => message.content)
    .join('\n');

  const open = lastUser.content.indexOf('<text>');
  const close = lastUser.content.lastIndexOf('</text>');
  if (open >= 0 && close > open) {
    const outside = lastUser.content.slice(0, open) + lastUser.content.slice(close + '</text>'.length);
    const title = /^\s*Title:\s*(.+)$/mu.exec(outside)?.[1]?.trim();
    return summaryTask(
      lastUser.content.slice(open + '<text>'.length, close),
      title,
      `${instructions}\n${outside}`,
    );
  }

  const content = lastUser.content.trim();
  if (content === '') throw new EngineError('invalid_request', 'the last user message is empty');
  const earlier = messages
    .filter((message) => message.role !== 'system' && message !== lastUser)
    .map((message) => message.content);
  const lead = INSTRUCTION_LEAD.exec(content)?.[0];
  if (lead !== undefined && SUMMARY_WORDS.test(lead) && content.slice(lead.length).trim() !== '') {
    return summaryTask(content.slice(lead.length), undefined, `${instructions}\n${lead}`);
  }
  const sentences = splitSentences(content);
  const isQuestion = /[?？]\s*$/u.test(content);
  if (SUMMARY_WORDS.test(content) && sentences.length <= MAX_SENTENCES_OF_AN_INSTRUCTION) {
    // "Summarize the above": the conversation so far is the text.
    if (earlier.length > 0)
      return summaryTask(earlier.join('\n\n'), undefined, `${instructions}\n${content}`);
    if (!isQuestion) throw new EngineError('invalid_request', 'there is no text to summarize');
  }
  if (SUMMARY_WORDS.test(instructions) || (!isQuestion && sentences.length >= MIN_SENTENCES_OF_PASTED_TEXT)) {
    return summaryTask(content, undefined, instructions);
  }
  // A question after pasted text: the text is part of the conversation, the question is what to match.
  const asked = sentences.filter((sentence) => /[?？]$/u.test(sentence.text));
  const told = sentences.filter((sentence) => !asked.includes(sentence));
  return {
    kind: 'answer',
    question: asked.length > 0 ? asked.map((sentence) => sentence.text).join(' ') : content,
    conversation: [...earlier, ...told.map((sentence) => sentence.text)],
  };
}

function summaryTask(text: string, title: string | undefined, instructions: string): Task {
  if (text.trim() === '') throw new EngineError('invalid_request', 'there is no text to summarize');
  return { kind: 'summary', text, title, shape: readShape(instructions) };
}

/** The shape the instructions ask for; paragraphs when they say nothing. Checked in this order because
 * a request for "2 to 4 short paragraphs" is a detailed one. */
export function readShape(instructions: string): SummaryShape {
  if (/bullet|•|пункт|списк/iu.test(instructions)) return { kind: 'bullets' };
  const maxWords = Number(
    /at most (\d+) words|не более (\d+) слов/iu.exec(instructions)?.slice(1).find(Boolean),
  );
  if (/paragraph|detailed|абзац|подробн/iu.test(instructions)) {
    return { kind: 'detailed', maxWords: maxWords || DEFAULT_DETAILED_WORDS };
  }
  if (
    /one or two sentences|one sentence|\bshort\b|\bbrief\b|tl;?dr|одн\S* (?:или дв\S* )?предложени|коротк/iu.test(
      instructions,
    )
  ) {
    const maxChars = Number(
      /at most (\d+) char|не более (\d+) символ/iu.exec(instructions)?.slice(1).find(Boolean),
    );
    return { kind: 'short', maxChars: maxChars || DEFAULT_SHORT_CHARS };
  }
  return { kind: 'detailed', maxWords: maxWords || DEFAULT_DETAILED_WORDS };
}

const DEFAULT_SHORT_CHARS = 180;
const DEFAULT_DETAILED_WORDS = 250;

// ---------------------------------------------------------------------------------------------------
// Sentences

export interface Sentence {
  text: string;
  /** Index of the paragraph (blank-line separated block) it comes from. */
  paragraph: number;
  /** Position among all sentences. */
  position: number;
}

/** Words after which a full stop is not a sentence end (before a name, mostly). */
const ABBREVIATIONS = new Set(
  'mr mrs ms dr prof sr jr st mt vs no e.g i.e fig г гг ул им д пр проф акад т.е т.к т.н т.д т.п см стр рис'.split(
    ' ',
  ),
);
const LIST_MARKER = /^(?:[•·▪‣◦*–—-]|\d{1,2}[.)])\s+/u;
const SENTENCE_END = /[.!?…‼⁉]+["'»”’)\]]*(?=\s)|[。！？]+["'»”’)\]」』]*/gu;

/**
 * Sentences of a text, Unicode-aware: Latin and Cyrillic end at `.!?…` followed by a space and a
 * non-lowercase letter (abbreviations and initials excepted), CJK at `。！？`, and lines are sentences
 * unless a hard wrap continues one in lowercase.
 */
export function splitSentences(text: string): Sentence[] {
  const sentences: Sentence[] = [];
  const paragraphs = text.replace(/\r\n?/gu, '\n').split(/\n[^\S\n]*\n\s*/u);
  for (const [paragraph, block] of paragraphs.entries()) {
    for (const line of joinWrappedLines(block)) {
      for (const piece of splitLine(line)) {
        const clean = piece.replace(LIST_MARKER, '').replace(/\s+/gu, ' ').trim();
        if (/[\p{L}\p{N}]/u.test(clean))
          sentences.push({ text: clean, paragraph, position: sentences.length });
      }
    }
  }
  return sentences;
}

function joinWrappedLines(block: string): string[] {
  const lines: string[] = [];
  for (const raw of block.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const previous = lines.at(-1);
    const continues =
      previous !== undefined && !/[.!?…:;。！？]["'»”’)]*$/u.test(previous) && /^\p{Ll}/u.test(line);
    if (continues) lines[lines.length - 1] = `${previous} ${line}`;
    else lines.push(line);
  }
  return lines;
}

function splitLine(line: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (const match of line.matchAll(SENTENCE_END)) {
    const end = match.index + match[0].length;
    const next = line.slice(end).trimStart();
    if (!/[。！？]/u.test(match[0])) {
      if (next === '' || /^\p{Ll}/u.test(next)) continue;
      const word = /([\p{L}.]+)\.$/u.exec(line.slice(start, match.index + 1))?.[1] ?? '';
      if (match[0] === '.' && (ABBREVIATIONS.has(word.toLowerCase()) || /^\p{Lu}$/u.test(word))) continue;
    }
    pieces.push(line.slice(start, end));
    start = end;
  }
  pieces.push(line.slice(start));
  return pieces.filter((piece) => piece.trim() !== '');
}

// ---------------------------------------------------------------------------------------------------
// Ranking

const STOPWORDS = new Set(
  (
    'a an the and or but if then so of to in on at by for with from as into about over after before ' +
    'is are was were be been being am do does did has have had having it its this that these those ' +
    'i you he she we they me him her us them my your his our their what which who whom whose when ' +
    'where why how all any both each few more most other some such no nor not only own same than too ' +
    'very can will just should would could may might must shall also there here up down out off again ' +
    'further once s t don now new one two said says get got via per yet while because until through ' +
    'и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее её мне ' +
    'было вот от меня еще ещё нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него ' +
    'до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть надо ней для мы ' +
    'тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж тогда кто этот того потому ' +
    'этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда зачем всех никогда ' +
    'можно при наконец два об другой хоть после над больше тот через эти нас про всего них какая много ' +
    'разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда ' +
    'конечно всю между это также которые который которая которое году года лет'
  ).split(' '),
);
const STEM_LENGTH = 6;
const MIN_STEM_LENGTH = 3;

/**
 * A crude stem, enough to match word forms: common inflections cut (English suffixes, Cyrillic vowel
 * endings), then at most six letters kept, so "buses"/"bus" and "ставку"/"ставки" compare equal.
 */
function stem(word: string): string {
  const cut = /\p{Script=Cyrillic}/u.test(word)
    ? word.replace(/[аеёиоуыэюяйь]+$/u, '')
    : word.replace(/(?:ing|ed|es|e|s|ly)$/u, '');
  return [...(cut.length >= MIN_STEM_LENGTH ? cut : word)].slice(0, STEM_LENGTH).join('');
}

/** Terms a sentence is compared by: stemmed content words, and character bigrams for CJK runs. */
function terms(text: string): string[] {
  const out: string[] = [];
  const spaced = text.toLowerCase().replace(new RegExp(`[${CJK}]+`, 'gu'), ' $& ');
  for (const [word] of spaced.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
    const chars = [...word];
    if (new RegExp(`^[${CJK}]`, 'u').test(word)) {
      if (chars.length === 1) out.push(word);
      for (let index = 0; index + 1 < chars.length; index++) out.push(`${chars[index]}${chars[index + 1]}`);
    } else if (!STOPWORDS.has(word) && (chars.length > 1 || /\p{N}/u.test(word))) {
      out.push(stem(word));
    }
  }
  return out;
}

type Vector = Map<string, number>;

/** TF-IDF vectors (log-scaled term frequency), unit length, over the given documents. */
function tfidfVectors(documents: readonly string[][], extra: readonly string[][] = []): Vector[] {
  const documentFrequency = new Map<string, number>();
  for (const termList of documents) {
    for (const term of new Set(termList)) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
  }
  const count = documents.length;
  return [...documents, ...extra].map((termList) => {
    const frequency = new Map<string, number>();
    for (const term of termList) frequency.set(term, (frequency.get(term) ?? 0) + 1);
    const vector: Vector = new Map();
    let norm = 0;
    for (const [term, tf] of frequency) {
      const weight =
        (1 + Math.log(tf)) * (Math.log((count + 1) / ((documentFrequency.get(term) ?? 0) + 1)) + 1);
      vector.set(term, weight);
      norm += weight * weight;
    }
    norm = Math.sqrt(norm);
    for (const [term, weight] of vector) vector.set(term, weight / norm);
    return vector;
  });
}

function cosine(a: Vector, b: Vector): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let dot = 0;
  for (const [term, weight] of small) dot += weight * (large.get(term) ?? 0);
  return dot;
}

/** A row of the sentence graph: the sentences this one shares terms with, and how similar they are. */
interface Edges {
  targets: Int32Array;
  weights: Float64Array;
}

/**
 * Cosine similarity of every pair of sentences that share a term, through an inverted index, so a
 * long text costs what its overlaps cost rather than a comparison of every pair.
 */
function similarityGraph(vectors: readonly Vector[]): Edges[] {
  const postings = new Map<string, Array<{ index: number; weight: number }>>();
  for (const [index, vector] of vectors.entries()) {
    for (const [term, weight] of vector) {
      const list = postings.get(term);
      if (list) list.push({ index, weight });
      else postings.set(term, [{ index, weight }]);
    }
  }
  const dots = new Float64Array(vectors.length);
  return vectors.map((vector, row) => {
    const touched: number[] = [];
    for (const [term, weight] of vector) {
      for (const posting of postings.get(term) ?? []) {
        if (posting.index === row) continue;
        if (dots[posting.index] === 0) touched.push(posting.index);
        dots[posting.index] = (dots[posting.index] ?? 0) + weight * posting.weight;
      }
    }
    touched.sort((a, b) => a - b);
    const edges = {
      targets: Int32Array.from(touched),
      weights: Float64Array.from(touched, (t) => dots[t] ?? 0),
    };
    for (const target of touched) dots[target] = 0;
    return edges;
  });
}

const DAMPING = 0.85;
const PAGERANK_ITERATIONS = 100;
const PAGERANK_TOLERANCE = 1e-9;

/** TextRank: PageRank over the sentence graph weighted by similarity; scores sum to 1. */
function textRank(graph: readonly Edges[]): Float64Array {
  const count = graph.length;
  const outWeight = graph.map(({ weights }) => weights.reduce((sum, weight) => sum + weight, 0));
  let scores = new Float64Array(count).fill(1 / count);
  for (let iteration = 0; iteration < PAGERANK_ITERATIONS; iteration++) {
    // A sentence similar to nothing spreads its score evenly, as PageRank does for dangling nodes.
    let dangling = 0;
    const next = new Float64Array(count);
    for (const [source, { targets, weights }] of graph.entries()) {
      const score = scores[source] ?? 0;
      const out = outWeight[source] ?? 0;
      if (out === 0) {
        dangling += score;
        continue;
      }
      for (let edge = 0; edge < targets.length; edge++) {
        const target = targets[edge] ?? 0;
        next[target] = (next[target] ?? 0) + (score * (weights[edge] ?? 0)) / out;
      }
    }
    let change = 0;
    for (let index = 0; index < count; index++) {
      const value = (1 - DAMPING) / count + DAMPING * ((next[index] ?? 0) + dangling / count);
      change += Math.abs(value - (scores[index] ?? 0));
      next[index] = value;
    }
    scores = next;
    if (change < PAGERANK_TOLERANCE) break;
  }
  return scores;
}

interface Scored extends Sentence {
  score: number;
  /** Cosine similarity to the focus (0 without one). */
  focusMatch: number;
  vector: Vector;
}

/** Below this many terms a sentence is a fragment ("Thanks!", a date line) and seldom the point. */
const MIN_INFORMATIVE_TERMS = 3;
/** Two sentences this similar say the same thing: the lower-ranked one is dropped. */
const REDUNDANT_SIMILARITY = 0.6;

/**
 * Every sentence with a score: TextRank centrality, a lead-position prior (news puts the point
 * first; paragraph openers state topics), a penalty for fragments, and, when a focus (title or
 * question) is given, a boost by similarity to it. Sentences without a single term are left out.
 */
function scoreSentences(sentences: readonly Sentence[], focus?: string): Scored[] {
  const termLists = sentences.map((sentence) => terms(sentence.text));
  const focusTerms = focus === undefined ? [] : [terms(focus)];
  const vectors = tfidfVectors(termLists, focusTerms);
  const focusVector = focusTerms.length > 0 ? vectors[sentences.length] : undefined;
  const centrality = textRank(similarityGraph(vectors.slice(0, sentences.length)));
  const topCentrality = Math.max(...centrality);
  return sentences.flatMap((sentence, index): Scored[] => {
    const vector = vectors[index] as Vector;
    if (vector.size === 0) return [];
    const termCount = termLists[index]?.length ?? 0;
    const lead = 1 + 0.3 / (1 + sentence.position) + (isParagraphOpener(sentences, index) ? 0.1 : 0);
    const fragment = termCount < MIN_INFORMATIVE_TERMS ? 0.3 : 1;
    const focusMatch = focusVector ? cosine(vector, focusVector) : 0;
    const score = ((centrality[index] ?? 0) / topCentrality) * lead * fragment * (1 + 2 * focusMatch);
    return [{ ...sentence, score, focusMatch, vector }];
  });
}

const byScore = (a: Scored, b: Scored): number => b.score - a.score || a.position - b.position;

/** The first `limit` sentences in the given order, skipping any that repeat one already taken. */
function pickDistinct(ordered: readonly Scored[], limit: number): Scored[] {
  const kept: Scored[] = [];
  for (const candidate of ordered) {
    if (kept.length >= limit) break;
    if (kept.some((chosen) => cosine(chosen.vector, candidate.vector) > REDUNDANT_SIMILARITY)) continue;
    kept.push(candidate);
  }
  return kept;
}

function isParagraphOpener(sentences: readonly Sentence[], index: number): boolean {
  return index === 0 || sentences[index - 1]?.paragraph !== sentences[index]?.paragraph;
}

// ---------------------------------------------------------------------------------------------------
// Composing the answer

const NO_MATCH_ANSWER =
  'This worker runs the extractive fallback engine (no language model): it can only quote sentences from ' +
  'the conversation, and none of them relates to the question.';
const MAX_ANSWER_SENTENCES = 3;
/** Distinct sentences, best first, that any summary shape chooses from (detailed takes at most 12). */
const SUMMARY_CANDIDATES = 24;

function composeAnswer(task: Task): string {
  if (task.kind === 'answer') return answerFromConversation(task.question, task.conversation);
  const sentences = splitSentences(task.text);
  const ranked = pickDistinct(scoreSentences(sentences, task.title).sort(byScore), SUMMARY_CANDIDATES);
  if (ranked.length === 0) throw new EngineError('invalid_request', 'the text has no words to summarize');
  const shape = task.shape;
  if (shape.kind === 'short') return shortSummary(ranked, shape.maxChars);
  if (shape.kind === 'bullets') return bulletSummary(ranked, sentences.length);
  return detailedSummary(ranked, sentences.length, shape.maxWords);
}

function inOriginalOrder<T extends Sentence>(chosen: readonly T[]): T[] {
  return [...chosen].sort((a, b) => a.position - b.position);
}

/** The conversation's sentences most similar to the question, in order; never the question itself. */
function answerFromConversation(question: string, conversation: readonly string[]): string {
  const sentences = splitSentences(conversation.join('\n\n'));
  if (sentences.length === 0) return NO_MATCH_ANSWER;
  const relevant = pickDistinct(
    scoreSentences(sentences, question)
      .filter((sentence) => sentence.focusMatch > 0)
      .sort((a, b) => b.focusMatch - a.focusMatch || byScore(a, b)),
    MAX_ANSWER_SENTENCES,
  );
  if (relevant.length === 0) return NO_MATCH_ANSWER;
  return inOriginalOrder(relevant)
    .map((sentence) => sentence.text)
    .join(' ');
}

/** Sentences ranked among the best few that a short summary may still use when the best is too long. */
const SHORT_CANDIDATES = 3;

function shortSummary(ranked: readonly Scored[], maxChars: number): string {
  const candidates = ranked.slice(0, SHORT_CANDIDATES);
  const first = candidates.find((sentence) => sentence.text.length <= maxChars);
  if (!first) return clip((ranked[0] as Scored).text, maxChars);
  const second = candidates.find(
    (sentence) => sentence !== first && first.text.length + 1 + sentence.text.length <= maxChars,
  );
  return inOriginalOrder(second ? [first, second] : [first])
    .map((sentence) => sentence.text)
    .join(' ');
}

/** A sentence cut to fit: at a clause boundary when one is late enough, else at a word, marked with "…". */
function clip(text: string, maxChars: number): string {
  const head = text.slice(0, maxChars - 1);
  const clause = Math.max(...[', ', '; ', ' — ', ' – ', ': '].map((mark) => head.lastIndexOf(mark)));
  const cut = clause >= maxChars / 3 ? clause : head.lastIndexOf(' ');
  return `${(cut > 0 ? head.slice(0, cut) : head).replace(/[\s,;:—–-]+$/u, '')}…`;
}

function bulletSummary(ranked: readonly Scored[], sentenceCount: number): string {
  const count = Math.min(5, Math.max(3, Math.ceil(sentenceCount / 4) + 1));
  return inOriginalOrder(ranked.slice(0, count))
    .map((sentence) => `• ${sentence.text}`)
    .join('\n');
}

const MAX_PARAGRAPH_SENTENCES = 4;
const MIN_PARAGRAPH_SENTENCES = 2;

/**
 * About a third of the sentences (2 to 12) within the word budget, in paragraphs that follow the
 * source's: a new one starts where the source's does, once the current has two sentences, or at four.
 */
function detailedSummary(ranked: readonly Scored[], sentenceCount: number, maxWords: number): string {
  const target = Math.min(12, Math.max(2, Math.ceil(sentenceCount * 0.35)));
  const chosen: Scored[] = [];
  let words = 0;
  for (const sentence of ranked) {
    if (chosen.length >= target) break;
    const length = sentence.text.split(' ').length;
    if (chosen.length > 0 && words + length > maxWords) continue;
    chosen.push(sentence);
    words += length;
  }
  const paragraphs: Scored[][] = [];
  for (const sentence of inOriginalOrder(chosen)) {
    const current = paragraphs.at(-1);
    const fresh =
      current === undefined ||
      current.length >= MAX_PARAGRAPH_SENTENCES ||
      (current.length >= MIN_PARAGRAPH_SENTENCES && current.at(-1)?.paragraph !== sentence.paragraph);
    if (fresh) paragraphs.push([sentence]);
    else current.push(sentence);
  }
  return paragraphs.map((paragraph) => paragraph.map((sentence) => sentence.text).join(' ')).join('\n\n');
}
