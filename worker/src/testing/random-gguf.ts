// Node-only: writes a file with node:fs.
import { createHash } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname } from 'node:path';

/**
 * Random-weight llama GGUFs that node-llama-cpp loads and runs: a tiny one (~500 KB) for tests, and larger
 * shapes for benchmarks (a real model's size and speed, offline: no weights can be downloaded there).
 * Their output is gibberish, but loading, tokenizing, sampling, streaming and cancelling are real.
 * The same seed always gives the same bytes, hence the same SHA-256 and the same generated tokens.
 */
export interface RandomGgufOptions {
  /** Seed of the weight generator (default 1). */
  seed?: number;
  /** Training context the file declares (default 512); larger for tests that send long prompts. */
  contextLength?: number;
}

export interface GeneratedGguf {
  path: string;
  /** Lowercase hex SHA-256 of the file: the model id a worker announces for it. */
  sha256: string;
}

/** A llama model's dimensions. */
export interface LlamaShape {
  embedding: number;
  feedForward: number;
  heads: number;
  /** Key/value heads (grouped-query attention when fewer than `heads`). */
  kvHeads: number;
  blocks: number;
  /** Tokens in the vocabulary: the tiny one's, padded with filler pieces up to this (a real output layer's width). */
  vocabulary?: number;
  /** Weights are uniform in ±this. */
  weightScale: number;
}

const TINY_SHAPE: LlamaShape = {
  embedding: 64,
  feedForward: 128,
  heads: 4,
  kvHeads: 4,
  blocks: 2,
  weightScale: 0.1,
};

/**
 * Shapes for `writeRandomGguf`, F32 weights. `small`: ≈ 125M parameters (0.5 GB), decodes at a real
 * model's pace on a CPU. `tinyllama`: TinyLlama-1.1B's dimensions (4.4 GB), about as many bytes read per
 * token as a 7-8B model quantized to 4 bits, the usual size served on one GPU.
 */
export const RANDOM_GGUF_SHAPES = {
  tiny: TINY_SHAPE,
  small: {
    embedding: 768,
    feedForward: 2048,
    heads: 12,
    kvHeads: 4,
    blocks: 12,
    vocabulary: 32_000,
    weightScale: 1 / Math.sqrt(768),
  },
  tinyllama: {
    embedding: 2048,
    feedForward: 5632,
    heads: 32,
    kvHeads: 4,
    blocks: 22,
    vocabulary: 32_000,
    weightScale: 1 / Math.sqrt(2048),
  },
} satisfies Record<string, LlamaShape>;
export type RandomGgufShape = keyof typeof RANDOM_GGUF_SHAPES;

const DEFAULT_CONTEXT_LENGTH = 512;
const ALIGNMENT = 32;
/** Weights are generated and written this many values at a time, so a large file needs little memory. */
const SLICE_VALUES = 1 << 22;

const MetadataType = { U32: 4, I32: 5, F32: 6, String: 8, Array: 9 } as const;

const TokenType = { Normal: 1, Unknown: 2, Control: 3, Byte: 6 } as const;

const GGML_TYPE_F32 = 0;

export async function writeTinyGguf(path: string, options: RandomGgufOptions = {}): Promise<GeneratedGguf> {
  return writeRandomGguf(path, { ...options, shape: 'tiny' });
}

/** Writes a random-weight GGUF of a named shape, streamed to disk. */
export async function writeRandomGguf(
  path: string,
  options: RandomGgufOptions & { shape: RandomGgufShape },
): Promise<GeneratedGguf> {
  await mkdir(dirname(path), { recursive: true });
  // Write then rename, so a test running in parallel never loads a half-written file.
  const partialPath = `${path}.${process.pid}.partial`;
  const hash = createHash('sha256');
  const file = await open(partialPath, 'w');
  try {
    const pieces = ggufPieces(
      options.shape,
      options.seed ?? 1,
      options.contextLength ?? DEFAULT_CONTEXT_LENGTH,
    );
    for (const piece of pieces) {
      hash.update(piece);
      await file.write(piece);
    }
  } finally {
    await file.close();
  }
  await rename(partialPath, path);
  return { path, sha256: hash.digest('hex') };
}

/** The tiny GGUF's bytes for a seed, without touching the disk. */
export function buildTinyGguf(seed: number, contextLength = DEFAULT_CONTEXT_LENGTH): Uint8Array {
  return new Uint8Array(Buffer.concat([...ggufPieces('tiny', seed, contextLength)]));
}

/** The file in order: header (metadata, tensor infos), then each tensor's weights, in slices. */
function* ggufPieces(shapeName: RandomGgufShape, seed: number, contextLength: number): Generator<Uint8Array> {
  const shape: LlamaShape = RANDOM_GGUF_SHAPES[shapeName];
  const vocabulary = randomVocabulary(shape.vocabulary);
  const tensors = tensorShapes(shape, vocabulary.tokens.length).map((tensor) => ({
    ...tensor,
    count: tensor.dims.reduce((a, b) => a * b, 1),
  }));
  const headDimension = shape.embedding / shape.heads;

  const out = new ByteWriter();
  out.raw(new TextEncoder().encode('GGUF'));
  out.u32(3);
  out.u64(tensors.length);
  const metadata: Array<[string, (w: ByteWriter) => void]> = [
    ['general.architecture', (w) => w.stringValue('llama')],
    ['general.name', (w) => w.stringValue(`cocoon-${shapeName}-${seed}`)],
    ['general.alignment', (w) => w.u32Value(ALIGNMENT)],
    ['llama.context_length', (w) => w.u32Value(contextLength)],
    ['llama.embedding_length', (w) => w.u32Value(shape.embedding)],
    ['llama.block_count', (w) => w.u32Value(shape.blocks)],
    ['llama.feed_forward_length', (w) => w.u32Value(shape.feedForward)],
    ['llama.attention.head_count', (w) => w.u32Value(shape.heads)],
    ['llama.attention.head_count_kv', (w) => w.u32Value(shape.kvHeads)],
    ['llama.rope.dimension_count', (w) => w.u32Value(headDimension)],
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
    dataOffset += alignUp(tensor.count * 4, ALIGNMENT);
  }
  out.padTo(ALIGNMENT);
  yield out.bytes();

  const random = mulberry32(seed);
  for (const tensor of tensors) {
    for (let done = 0; done < tensor.count; done += SLICE_VALUES) {
      const values = new Float32Array(Math.min(SLICE_VALUES, tensor.count - done));
      for (let i = 0; i < values.length; i++)
        values[i] = tensor.isNorm ? 1 : (random() * 2 - 1) * shape.weightScale;
      yield littleEndianBytes(values);
    }
    const padding = alignUp(tensor.count * 4, ALIGNMENT) - tensor.count * 4;
    if (padding > 0) yield new Uint8Array(padding);
  }
}

/** GGUF is little-endian: a Float32Array's own bytes on such a machine, else swapped. */
function littleEndianBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (endianness() === 'LE') return bytes;
  const view = new DataView(new ArrayBuffer(values.byteLength));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return new Uint8Array(view.buffer);
}

interface TinyVocabulary {
  tokens: string[];
  scores: number[];
  types: number[];
}

/**
 * `<unk>`, `<s>`, `</s>`, the 256 byte tokens (so any text tokenizes), then SentencePiece-style pieces, then
 * filler pieces up to `size` (whole-word tokens that no text tokenizes to, but the model may generate).
 */
function randomVocabulary(size?: number): TinyVocabulary {
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
  for (let filler = 0; tokens.length < (size ?? 0); filler++) {
    tokens.push(`▁~${filler}`);
    types.push(TokenType.Normal);
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('tiny GGUF vocabulary has a duplicate token');
  // SentencePiece merges prefer higher scores: whole words beat single letters.
  const scores = tokens.map((token, index) => (types[index] === TokenType.Normal ? -1 / token.length : 0));
  return { tokens, scores, types };
}

function tensorShapes(shape: LlamaShape, vocabularySize: number) {
  const E = shape.embedding;
  const FF = shape.feedForward;
  const KV = (shape.embedding / shape.heads) * shape.kvHeads;
  const shapes: Array<{ name: string; dims: number[]; isNorm: boolean }> = [
    { name: 'token_embd.weight', dims: [E, vocabularySize], isNorm: false },
    { name: 'output_norm.weight', dims: [E], isNorm: true },
    { name: 'output.weight', dims: [E, vocabularySize], isNorm: false },
  ];
  for (let block = 0; block < shape.blocks; block++) {
    const prefix = `blk.${block}`;
    shapes.push(
      { name: `${prefix}.attn_norm.weight`, dims: [E], isNorm: true },
      { name: `${prefix}.attn_q.weight`, dims: [E, E], isNorm: false },
      { name: `${prefix}.attn_k.weight`, dims: [E, KV], isNorm: false },
      { name: `${prefix}.attn_v.weight`, dims: [E, KV], isNorm: false },
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
