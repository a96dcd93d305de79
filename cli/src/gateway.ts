// The OpenAI-compatible gateway: existing OpenAI clients talk to it on loopback, and it does what a Cocoon
// client must (verify, seal, open, check receipts) through the client SDK, so nothing readable leaves it.
import { ChatRequest, ClientError, type CocoonClient, toHex } from '@cocoon/shared';
import { sameSecret } from '@cocoon/shared/same-secret';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';

const Streaming = {
  model: z.string().min(1),
  stream: z.boolean().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
};
const ChatCompletionBody = ChatRequest.extend(Streaming);
/** Legacy completions: the prompt goes to the worker as one user message (workers serve chat models). */
const CompletionBody = ChatRequest.omit({ messages: true }).extend({
  ...Streaming,
  prompt: z.union([z.string(), z.array(z.string()).length(1)]),
});

interface GatewayOptions {
  client: CocoonClient;
  /** When set, requests must carry `Authorization: Bearer <key>` (for gateways shared beyond loopback). */
  apiKey?: string;
}

/** OpenAI's error shape, so clients show our messages as they show OpenAI's. */
function sendError(res: Response, status: number, message: string, code: string): void {
  res
    .status(status)
    .json({ error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } });
}

export function createGateway({ client, apiKey }: GatewayOptions): express.Express {
  const app = express();
  app.use(express.json({ limit: '8mb' }));
  app.use((req, res, next) => {
    const authorization = req.headers.authorization;
    if (apiKey === undefined) return next();
    if (authorization?.startsWith('Bearer ') && sameSecret(authorization.slice('Bearer '.length), apiKey))
      return next();
    sendError(res, 401, 'missing or wrong API key (Authorization: Bearer …)', 'invalid_api_key');
  });

  let models: { at: number; list: Awaited<ReturnType<CocoonClient['models']>> } | undefined;
  const listModels = async () => {
    if (models === undefined || Date.now() - models.at > 30_000)
      models = { at: Date.now(), list: await client.models() };
    return models.list;
  };
  /** OpenAI clients name models; ours are identified by file hash. Accept either. */
  const resolveModel = async (name: string): Promise<string | undefined> => {
    if (/^[0-9a-f]{64}$/.test(name)) return name;
    return (await listModels()).find((m) => m.name === name)?.model;
  };

  app.get('/v1/models', async (_req, res) => {
    try {
      const list = await listModels();
      res.json({
        object: 'list',
        data: list.map((m) => ({
          id: m.name,
          object: 'model',
          created: 0,
          owned_by: 'cocoon',
          cocoon: { sha256: m.model, workers: m.workers, min_price_per_token: m.minPricePerToken.toString() },
        })),
      });
    } catch (error) {
      handleError(res, error);
    }
  });

  /** One completion, plain or streamed (SSE); `kind` picks the OpenAI shape of each response. */
  const complete = async (
    res: Response,
    kind: 'chat' | 'text',
    body: {
      model: string;
      stream?: boolean | undefined;
      stream_options?: { include_usage?: boolean | undefined } | undefined;
    } & z.input<typeof ChatRequest>,
  ) => {
    const { model: modelName, stream, stream_options, ...request } = body;
    let model: string | undefined;
    try {
      model = await resolveModel(modelName);
    } catch (error) {
      // The proxy could not list its models: say so, rather than that the model does not exist.
      return handleError(res, error);
    }
    if (model === undefined)
      return sendError(res, 404, `no worker serves a model named ${modelName}`, 'model_not_found');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const created = Math.floor(Date.now() / 1000);
    const prefix = kind === 'chat' ? 'chatcmpl' : 'cmpl';
    const choice = (text: string, finish: string | null, first = false) => {
      if (kind === 'text') return { index: 0, text, logprobs: null, finish_reason: finish };
      if (!stream) return { index: 0, message: { role: 'assistant', content: text }, finish_reason: finish };
      const delta = first ? { role: 'assistant', content: text } : text === '' ? {} : { content: text };
      return { index: 0, delta, finish_reason: finish };
    };
    if (!stream) {
      try {
        const result = await client.chat(request, { model, signal: abort.signal });
        res.json({
          id: `${prefix}-${result.receipt.jobId}`,
          object: kind === 'chat' ? 'chat.completion' : 'text_completion',
          created,
          model: modelName,
          choices: [choice(result.text, openAiFinish(result.finishReason))],
          usage: usageOf(result.usage),
          cocoon: cocoonExtension(result),
        });
      } catch (error) {
        handleError(res, error);
      }
      return;
    }
    res.setHeader('content-type', 'text/event-stream');
    res.setHeader('cache-control', 'no-cache');
    const id = `${prefix}-${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const event = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = (text: string, finish: string | null, first = false) =>
      event({ id, object, created, model: modelName, choices: [choice(text, finish, first)] });
    if (kind === 'chat') chunk('', null, true);
    try {
      const result = await client.chat(request, {
        model,
        signal: abort.signal,
        onText: (text) => chunk(text, null),
      });
      chunk('', openAiFinish(result.finishReason));
      if (stream_options?.include_usage) {
        event({
          id,
          object,
          created,
          model: modelName,
          choices: [],
          usage: usageOf(result.usage),
          cocoon: cocoonExtension(result),
        });
      }
    } catch (error) {
      // Headers are sent; an SSE error event is how OpenAI-compatible servers report failures mid-stream.
      const { message, code } = describeError(error);
      event({ error: { message, type: 'server_error', code } });
    }
    res.write('data: [DONE]\n\n');
    res.end();
  };

  const invalid = (res: Response, error: z.ZodError) => {
    const issue = error.issues[0];
    sendError(res, 400, `${issue?.path.join('.') || 'body'}: ${issue?.message}`, 'invalid_request');
  };

  app.post('/v1/chat/completions', async (req: Request, res: Response) => {
    const parsed = ChatCompletionBody.safeParse(req.body);
    if (!parsed.success) return invalid(res, parsed.error);
    await complete(res, 'chat', parsed.data);
  });

  app.post('/v1/completions', async (req: Request, res: Response) => {
    const parsed = CompletionBody.safeParse(req.body);
    if (!parsed.success) return invalid(res, parsed.error);
    const { prompt, ...rest } = parsed.data;
    const content = typeof prompt === 'string' ? prompt : (prompt[0] as string);
    await complete(res, 'text', { ...rest, messages: [{ role: 'user', content }] });
  });

  app.use((_req: Request, res: Response) =>
    sendError(
      res,
      404,
      'unknown endpoint: this gateway serves /v1/models, /v1/chat/completions and /v1/completions',
      'not_found',
    ),
  );
  return app;
}

const openAiFinish = (reason: string) => (reason === 'length' ? 'length' : 'stop');

const usageOf = (usage: { promptTokens: number; completionTokens: number }) => ({
  prompt_tokens: usage.promptTokens,
  completion_tokens: usage.completionTokens,
  total_tokens: usage.promptTokens + usage.completionTokens,
});

/** What only Cocoon can say: who served the job, how it was attested, and the verified receipt. */
function cocoonExtension(result: Awaited<ReturnType<CocoonClient['chat']>>) {
  return {
    worker: result.worker.workerId,
    attestation: { kind: result.worker.attestation.kind, secure: result.worker.attestation.secure },
    receipt: { ...result.signedReceipt, amount_nanotons: result.receipt.amount.toString() },
  };
}

function describeError(error: unknown): { status: number; message: string; code: string } {
  if (error instanceof ClientError) {
    const unavailable = error.code === 'no_verified_worker' || error.code === 'no_affordable_worker';
    const status = error.detail?.status ?? (unavailable ? 503 : 502);
    return { status, message: error.message, code: error.detail?.code ?? error.code };
  }
  return { status: 500, message: 'internal gateway error', code: 'internal' };
}

function handleError(res: Response, error: unknown): void {
  const { status, message, code } = describeError(error);
  if (error instanceof ClientError && error.detail?.retryAfterSeconds !== undefined) {
    res.setHeader('retry-after', String(error.detail.retryAfterSeconds));
  }
  sendError(res, status, message, code);
}
