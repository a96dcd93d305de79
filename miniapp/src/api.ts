import {
  AppChannel,
  ChannelsResponse,
  ChannelUpdateRequest,
  HistoryResponse,
  INIT_DATA_SCHEME,
  MeResponse,
  NetworkResponse,
  ReaderResponse,
  StarsInvoiceResponse,
  TopUpIntent,
  TopUpRequest,
} from '@cocoon/shared/protocol/app-api';
import { ApiError } from '@cocoon/shared/protocol/messages';
import { z } from 'zod';

/** An `/api` call that failed: the server's code and message, or `network` when no answer came. */
export class ApiCallError extends Error {
  override readonly name = 'ApiCallError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type Api = ReturnType<typeof createApi>;

/** The app server's API, every call authenticated with the launch's raw initData; answers are schema-checked. */
export function createApi(initDataRaw: string, base = '') {
  async function call<S extends z.ZodType>(
    schema: S,
    path: string,
    init: RequestInit = {},
  ): Promise<z.output<S>> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        ...init,
        headers: {
          authorization: `${INIT_DATA_SCHEME} ${initDataRaw}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      });
    } catch (error) {
      throw new ApiCallError(0, 'network', `the server cannot be reached: ${(error as Error).message}`);
    }
    const json: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = ApiError.safeParse(json);
      throw error.success
        ? new ApiCallError(response.status, error.data.error.code, error.data.error.message)
        : new ApiCallError(response.status, 'http', `the server answered ${response.status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new ApiCallError(response.status, 'bad_response', 'the server answered in an unknown shape');
    return parsed.data;
  }
  const post = (value: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(value) });

  return {
    me: () => call(MeResponse, '/api/me'),
    history: (page: { limit?: number; before?: number } = {}) => {
      const query = new URLSearchParams();
      if (page.limit !== undefined) query.set('limit', String(page.limit));
      if (page.before !== undefined) query.set('before', String(page.before));
      return call(HistoryResponse, `/api/history?${query}`);
    },
    createTopUp: (amount: bigint) =>
      call(TopUpIntent, '/api/topups', post(z.encode(TopUpRequest, { amount }))),
    topUp: (id: string) => call(TopUpIntent, `/api/topups/${encodeURIComponent(id)}`),
    starsInvoice: (stars: number) => call(StarsInvoiceResponse, '/api/stars/invoice', post({ stars })),
    channels: () => call(ChannelsResponse, '/api/channels'),
    updateChannel: (chatId: number, update: z.output<typeof ChannelUpdateRequest>) =>
      call(AppChannel, `/api/channels/${chatId}`, {
        method: 'PUT',
        body: JSON.stringify(z.encode(ChannelUpdateRequest, update)),
      }),
    read: (url: string) => call(ReaderResponse, '/api/reader', post({ url })),
    network: () => call(NetworkResponse, '/api/network'),
  };
}
