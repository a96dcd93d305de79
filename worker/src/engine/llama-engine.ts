// Node-only: drives llama.cpp through node-llama-cpp.
import { basename } from 'node:path';
import {
  type ChatWrapper,
  getLlama,
  InsufficientMemoryError,
  type Llama,
  LlamaChat,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaGrammar,
  type LlamaModel,
} from 'node-llama-cpp';
import { z } from 'zod';
import { chatWrapperFor, promptTokens, toChatHistory } from './chat-prompt.js';
import {
  type Engine,
  EngineError,
  type EngineModel,
  type FinishReason,
  type GenerateOptions,
  type Generation,
} from './engine.js';
import { ChatRequest, DEFAULT_SAMPLING, stopSequences } from './request.js';
import { PooledEngineModel } from './slot-pool.js';

export type GpuChoice = 'auto' | 'cpu' | 'cuda' | 'vulkan';
type JsonSchemaForGrammar = Parameters<Llama['createGrammarForJsonSchema']>[0];

export const ModelSpec = z.object({
  /** The GGUF file (see `resolveModel`). */
  path: z.string().min(1),
  /** Its SHA-256, the model id. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Shown to clients; defaults to the GGUF's `general.name`, else the file name. */
  name: z.string().min(1).max(200).optional(),
  /** Ten-thousandths of the network token price (10_000 = 1×). */
  priceCoefficient: z.number().int().min(1).max(100_000_000).default(10_000),
  /** Tokens per job; default: as large as free memory allows, up to the model's training size and 8192. */
  contextSize: z.number().int().min(64).optional(),
  /** Jobs at once; default: the most of 8, 4, 2, 1 whose contexts fit in free memory. */
  parallelJobs: z.number().int().min(1).max(64).optional(),
});
export type ModelSpec = z.input<typeof ModelSpec>;

export const LlamaEngineOptions = z.object({
  gpu: z.enum(['auto', 'cpu', 'cuda', 'vulkan']).default('auto'),
  models: z.array(ModelSpec).min(1),
  /** CPU threads per model context; default: node-llama-cpp's choice. */
  threads: z.number().int().min(1).optional(),
});
export type LlamaEngineOptions = z.input<typeof LlamaEngineOptions> & {
  /** An already loaded llama.cpp binding to share (tests load one per file); `gpu` is then ignored. */
  llama?: Llama;
};

const DEFAULT_MAX_CONTEXT = 8192;
const MIN_AUTO_CONTEXT = 2048;
const AUTO_PARALLEL_CANDIDATES = [8, 4, 2, 1];

/** llama.cpp's gpu option for a `--gpu` choice. */
function llamaGpuOption(choice: GpuChoice): 'auto' | 'cuda' | 'vulkan' | false {
  return choice === 'cpu' ? false : choice;
}

/** Loads llama.cpp for a `--gpu` choice; never compiles from source (an attested image runs only what it shipped). */
export async function loadLlama(gpu: GpuChoice): Promise<Llama> {
  let llama: Llama;
  try {
    llama = await getLlama({ gpu: llamaGpuOption(gpu), build: 'never' });
  } catch (error) {
    throw new EngineError(
      'gpu_unavailable',
      `cannot load llama.cpp for --gpu ${gpu}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  // Without a GPU node-llama-cpp runs at least 4 threads per context. llama.cpp's threads spin while they
  // wait for each other, so on fewer cores they take turns: a token took 40x longer on 2 cores (measured).
  if (llama.gpu === false) llama.maxThreads = Math.min(llama.maxThreads, llama.cpuMathCores);
  return llama;
}

export class LlamaEngine implements Engine {
  private closing = false;

  private constructor(
    private readonly llama: Llama,
    private readonly ownsLlama: boolean,
    readonly models: readonly LlamaEngineModel[],
  ) {}

  /** Loads every model first, then sizes each one's context from the memory left. */
  static async create(options: LlamaEngineOptions): Promise<LlamaEngine> {
    const parsed = LlamaEngineOptions.parse(options);
    const ids = new Set(parsed.models.map((spec) => spec.sha256));
    if (ids.size !== parsed.models.length)
      throw new EngineError('invalid_request', 'the same model is listed twice');
    const llama = options.llama ?? (await loadLlama(parsed.gpu));
    const loaded: LlamaModel[] = [];
    try {
      for (const spec of parsed.models) loaded.push(await llama.loadModel({ modelPath: spec.path }));
      const models: LlamaEngineModel[] = [];
      for (const [index, spec] of parsed.models.entries()) {
        const model = loaded[index] as LlamaModel;
        const context = await createSizedContext(model, spec, parsed.threads);
        models.push(new LlamaEngineModel(llama, model, context, spec));
      }
      return new LlamaEngine(llama, options.llama === undefined, models);
    } catch (error) {
      for (const model of loaded) await model.dispose();
      if (options.llama === undefined) await llama.dispose();
      throw error;
    }
  }

  get gpu(): string {
    return this.llama.gpu === false ? 'cpu' : this.llama.gpu;
  }

  model(id: string): LlamaEngineModel {
    const found = this.models.find((model) => model.id === id);
    if (!found) throw new EngineError('unknown_model', `this worker does not serve model ${id}`);
    if (this.closing) throw new EngineError('closed', 'the engine is shutting down');
    return found;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.models.map((model) => model.close()));
    if (this.ownsLlama) await this.llama.dispose();
  }
}

async function createSizedContext(
  model: LlamaModel,
  spec: z.output<typeof ModelSpec>,
  threads: number | undefined,
): Promise<LlamaContext> {
  const maxContext = Math.min(model.trainContextSize, DEFAULT_MAX_CONTEXT);
  const contextSize = spec.contextSize ?? { min: Math.min(MIN_AUTO_CONTEXT, maxContext), max: maxContext };
  const sequences = spec.parallelJobs ?? (await fittingParallelJobs(model, contextSize));
  return await model.createContext({ contextSize, sequences, threads });
}

/** The most parallel sequences whose contexts fit in free VRAM/RAM, per node-llama-cpp's estimator. */
async function fittingParallelJobs(
  model: LlamaModel,
  contextSize: number | { min: number; max: number },
): Promise<number> {
  for (const sequences of AUTO_PARALLEL_CANDIDATES) {
    try {
      await model.fileInsights.configurationResolver.resolveContextContextSize(contextSize, {
        modelGpuLayers: model.gpuLayers,
        modelTrainContextSize: model.trainContextSize,
        sequences,
      });
      return sequences;
    } catch (error) {
      if (!(error instanceof InsufficientMemoryError)) throw error;
    }
  }
  return 1; // let context creation report the shortage
}

export class LlamaEngineModel extends PooledEngineModel<LlamaContextSequence> implements EngineModel {
  readonly id: string;
  readonly name: string;
  readonly priceCoefficient: number;
  readonly chatTemplate: string;
  private readonly wrapper: ChatWrapper;
  constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    spec: z.output<typeof ModelSpec>,
  ) {
    super(Array.from({ length: context.totalSequences }, () => context.getSequence()));
    this.id = spec.sha256;
    this.name = spec.name ?? model.fileInfo.metadata.general?.name ?? basename(spec.path);
    this.priceCoefficient = spec.priceCoefficient;
    this.wrapper = chatWrapperFor(model);
    this.chatTemplate = this.wrapper.wrapperName;
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  protected async run(input: ChatRequest, options: GenerateOptions): Promise<Generation> {
    const request = parseRequest(input);
    const history = toChatHistory(request.messages);
    const promptTokenCount = promptTokens(this.model, this.wrapper, history).length;
    // node-llama-cpp shifts the context (drops the start of the chat) when it fills up; one token
    // of room past the answer keeps it from ever doing so, so the model always sees the whole prompt.
    const room = this.contextSize - 1 - promptTokenCount;
    if (room < 1) {
      throw new EngineError(
        'prompt_too_long',
        `the prompt has ${promptTokenCount} tokens; this model's context holds ${this.contextSize}`,
      );
    }
    const maxTokens = Math.min(
      request.max_tokens ?? Number.POSITIVE_INFINITY,
      options.maxTokens ?? Number.POSITIVE_INFINITY,
      room,
    );
    const grammar = await this.grammarFor(request);

    let text = '';
    let completionTokens = 0;
    const result = (finishReason: FinishReason): Generation => ({
      text,
      usage: { promptTokens: promptTokenCount, completionTokens },
      finishReason,
    });

    let sequence: LlamaContextSequence;
    try {
      sequence = await this.slots.acquire(options.signal);
    } catch (error) {
      if (options.signal?.aborted) return notStarted();
      throw error;
    }
    const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: this.wrapper });
    try {
      const { metadata } = await chat.generateResponse(history, {
        maxTokens,
        temperature: request.temperature ?? DEFAULT_SAMPLING.temperature,
        topP: request.top_p ?? DEFAULT_SAMPLING.top_p,
        topK: request.top_k ?? DEFAULT_SAMPLING.top_k,
        seed: request.seed,
        grammar,
        customStopTriggers: stopSequences(request),
        repeatPenalty: false,
        signal: options.signal,
        onResponseChunk: (chunk) => {
          // Every generated token is paid for; only the answer itself is returned. Reasoning
          // ("thought") segments of thinking models are billed but not sent, as OpenAI does.
          completionTokens += chunk.tokens.length;
          if (chunk.type !== undefined || chunk.text === '') return;
          text += chunk.text;
          options.onText?.(chunk.text);
        },
      });
      return result(metadata.stopReason === 'maxTokens' ? 'length' : 'stop');
    } catch (error) {
      if (options.signal?.aborted) return result('cancelled');
      throw new EngineError('generation_failed', `generation failed: ${errorMessage(error)}`, {
        cause: error,
      });
    } finally {
      chat.dispose({ disposeSequence: false });
      // A job never sees another job's cache: no cross-client reuse, no prefix-timing signal.
      await sequence.clearHistory();
      this.slots.release(sequence);
    }
  }

  async close(): Promise<void> {
    await this.drain();
    await this.context.dispose();
    await this.model.dispose();
  }

  private async grammarFor(request: ChatRequest): Promise<LlamaGrammar | undefined> {
    const format = request.response_format;
    if (format?.type === 'json_object') return await this.llama.getGrammarFor('json');
    if (format?.type !== 'json_schema') return undefined;
    try {
      return await this.llama.createGrammarForJsonSchema(format.schema as JsonSchemaForGrammar);
    } catch {
      // The converter's message may quote the schema, which is request content.
      throw new EngineError(
        'invalid_request',
        'response_format.schema uses JSON Schema features llama.cpp cannot enforce',
      );
    }
  }
}

/** A job cancelled before it got a sequence: the model processed nothing. */
function notStarted(): Generation {
  return { text: '', usage: { promptTokens: 0, completionTokens: 0 }, finishReason: 'cancelled' };
}

function parseRequest(input: unknown): ChatRequest {
  const parsed = ChatRequest.safeParse(input);
  if (parsed.success) return parsed.data;
  // Paths and codes only: zod messages can echo values, which are request content.
  const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.code}`);
  throw new EngineError('invalid_request', `invalid chat request (${issues.join('; ')})`);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
