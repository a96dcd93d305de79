// Node-only: writes a file with node:fs.
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A tiny random-weight llama GGUF (~500 KB) that node-llama-cpp loads and runs on CPU.
 * Its output is gibberish, but loading, tokenizing, sampling, streaming and cancelling are real.
 * The same seed always gives the same bytes, hence the same SHA-256 and the same generated tokens.
 */
export interface TinyGgufOptions {
  /** Seed of the weight generator (default 1). */
  seed?: number;
  /** Training context the file declares (default 512); larger for tests that send long prompts. */
  contextLength?: number;
}

export interface TinyGguf {
  path: string;
  /** Lowercase hex SHA-256 of the file: the model id a worker announces for it. */
  sha256: string;
}

const EMBEDDING = 64;
const FEED_FORWARD = 128;
const HEADS = 4;
const BLOCKS = 2;
const DEFAULT_CONTEXT_LENGTH = 512;
const ALIGNMENT = 32;
const WEIGHT_SCALE = 0.1;

const MetadataType = { U32: 4, I32: 5, F32: 6, String: 8, Array: 9 } as const;

const TokenType = { Normal: 1, Unknown: 2, Control: 3, Byte: 6 } as const;

const GGML_TYPE_F32 = 0;

export async function writeTinyGguf(path: string, options: TinyGgufOptions = {}): Promise<TinyGguf> {
  const bytes = buildTinyGguf(options.seed ?? 1, options.contextLength ?? DEFAULT_CONTEXT_LENGTH);
  await mkdir(dirname(path), { recursive: true });
  // Write then rename, so a test running in parallel never loads a half-written file.
  const partialPath = `${path}.${process.pid}.partial`;
  await writeFile(partialPath, bytes);
  await rename(partialPath, path);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The GGUF bytes for a seed, without touching the disk. */
export function buildTinyGguf(seed: number, contextLength = DEFAULT_CONTEXT_LENGTH): Uint8Array {
  const vocabulary = tinyVocabulary();
  const random = mulberry32(seed);
  const tensors = tinyTensorShapes(vocabulary.tokens.length).map(({ name, dims, isNorm }) => {
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = isNorm ? 1 : (random() * 2 - 1) * WEIGHT_SCALE;
    return { name, dims, values };
  });

  const out = new ByteWriter();
  out.raw(new TextEncoder().encode('GGUF'));
  out.u32(3);
  out.u64(tensors.length);
  const metadata: Array<[string, (w: ByteWriter) => void]> = [
    ['general.architecture', (w) => w.stringValue('llama')],
    ['general.name', (w) => w.stringValue(`cocoon-tiny-${seed}`)],
    ['general.alignment', (w) => w.u32Value(ALIGNMENT)],
    ['llama.context_length', (w) => w.u32Value(contextLength)],
    ['llama.embedding_length', (w) => w.u32Value(EMBEDDING)],
    ['llama.block_count', (w) => w.u32Value(BLOCKS)],
    ['llama.feed_forward_length', (w) => w.u32Value(FEED_FORWARD)],
    ['llama.attention.head_count', (w) => w.u32Value(HEADS)],
    ['llama.attention.head_count_kv', (w) => w.u32Value(HEADS)],
    ['llama.rope.dimension_count', (w) => w.u32Value(EMBEDDING / HEADS)],
    ['llama.attention.layer_norm_rms_epsilon', (w) => w.f32Value(1e-5)],
    ['tokenizer.ggml.model', (w) => w.stringValue('llama')],
    ['tokenizer.ggml.tokens', (w) => w.stringArray(vocabulary.tokens)],
    ['tokenizer.ggml.scores', (w) => w.numberArray(MetadataType.F32, vocabulary.scores)],
    ['tokenizer.ggml.token_type', (w) => w.numberArray(MetadataType.I32, vocabulary.types)],
    ['tokenizer.ggml.bos_token_id', (w) => w.u32Value(1)],
    ['tokenizer.ggml.eos_token_id', (w) => w.u32Value(2)],
    ['tokenizer.ggml.unknown_token_id', (w) => w.u32Value(0)],
  ];
  out.u64(metadata.length);
  for (const [key, writeValue] of metadata) {
    out.string(key);
    writeValue(out);
  }

  let dataOffset = 0;
  for (const tensor of tensors) {
    out.string(tensor.name);
    out.u32(tensor.dims.length);
    for (const dim of tensor.dims) out.u64(dim);
    out.u32(GGML_TYPE_F32);
    out.u64(dataOffset);
    dataOffset += alignUp(tensor.values.byteLength, ALIGNMENT);
  }
  out.padTo(ALIGNMENT);
  for (const tensor of tensors) {
    out.f32s(tensor.values);
    out.padTo(ALIGNMENT);
  }
  return out.bytes();
}

interface TinyVocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
}

/** `<unk>`, `<s>`, `</s>`, the 256 byte tokens (so any text tokenizes), then SentencePiece-style pieces. */
function tinyVocabulary(): TinyVocabulary {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types: number[] = [TokenType.Unknown, TokenType.Control, TokenType.Control];
  for (let byte = 0; byte < 256; byte++) {
    tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(TokenType.Byte);
  }
  const words = (
    'the of and to in is it you that he was for on are with as his they be at one have this from or ' +
    'had by hot word but what some we can out other were all there when up use your how said an each ' +
    'she which do their time if will way about many then them write would like so these her long make'
  ).split(' ');
  const pieces = new Set<string>(['▁']);
  for (const letter of 'abcdefghijklmnopqrstuvwxyz0123456789.,!?') pieces.add(letter);
  // llama.cpp's SentencePiece tokenizer only merges pairs whose result is in the vocabulary,
  // so every prefix of a word piece must be a piece too.
  for (const word of words) {
    for (let end = 1; end <= word.length; end++) pieces.add(`▁${word.slice(0, end)}`);
  }
  for (const piece of pieces) {
    tokens.push(piece);
    types.push(TokenType.Normal);
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('tiny GGUF vocabulary has a duplicate token');
  // SentencePiece merges prefer higher scores: whole words beat single letters.
  const scores = tokens.map((token, index) => (types[index] === TokenType.Normal ? -1 / token.length : 0));
  return { tokens, scores, types };
}

function tinyTensorShapes(vocabularySize: number) {
  const E = EMBEDDING;
  const FF = FEED_FORWARD;
  const shapes: Array<{ name: string; dims: number[]; isNorm: boolean }> = [
    { name: 'token_embd.weight', dims: [E, vocabularySize], isNorm: false },
    { name: 'output_norm.weight', dims: [E], isNorm: true },
    { name: 'output.weight', dims: [E, vocabularySize], isNorm: false },
  ];
  for (let block = 0; block < BLOCKS; block++) {
    const prefix = `blk.${block}`;
    shapes.push(
      { name: `${prefix}.attn_norm.weight`, dims: [E], isNorm: true },
      { name: `${prefix}.attn_q.weight`, dims: [E, E], isNorm: false },
      { name: `${prefix}.attn_k.weight`, dims: [E, E], isNorm: false },
      { name: `${prefix}.attn_v.weight`, dims: [E, E], isNorm: false },
      { name: `${prefix}.attn_output.weight`, dims: [E, E], isNorm: false },
      { name: `${prefix}.ffn_norm.weight`, dims: [E], isNorm: true },
      { name: `${prefix}.ffn_gate.weight`, dims: [E, FF], isNorm: false },
      { name: `${prefix}.ffn_up.weight`, dims: [E, FF], isNorm: false },
      { name: `${prefix}.ffn_down.weight`, dims: [FF, E], isNorm: false },
    );
  }
  return shapes;
}

/** Small, fast, seedable PRNG: uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** Little-endian GGUF writer over a growable buffer. */
class ByteWriter {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  bytes(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  i32(value: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, value, true);
    this.length += 4;
  }

  f32(value: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  u64(value: number): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(value), true);
    this.length += 8;
  }

  f32s(values: Float32Array): void {
    this.reserve(values.byteLength);
    for (const value of values) {
      this.view.setFloat32(this.length, value, true);
      this.length += 4;
    }
  }

  string(text: string): void {
    const encoded = new TextEncoder().encode(text);
    this.u64(encoded.length);
    this.raw(encoded);
  }

  stringValue(text: string): void {
    this.u32(MetadataType.String);
    this.string(text);
  }

  u32Value(value: number): void {
    this.u32(MetadataType.U32);
    this.u32(value);
  }

  f32Value(value: number): void {
    this.u32(MetadataType.F32);
    this.f32(value);
  }

  stringArray(values: string[]): void {
    this.u32(MetadataType.Array);
    this.u32(MetadataType.String);
    this.u64(values.length);
    for (const value of values) this.string(value);
  }

  numberArray(type: typeof MetadataType.F32 | typeof MetadataType.I32, values: number[]): void {
    this.u32(MetadataType.Array);
    this.u32(type);
    this.u64(values.length);
    for (const value of values) {
      if (type === MetadataType.F32) this.f32(value);
      else this.i32(value);
    }
  }

  padTo(alignment: number): void {
    const padding = alignUp(this.length, alignment) - this.length;
    this.reserve(padding);
    this.length += padding; // the buffer is zero-filled
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }
}
