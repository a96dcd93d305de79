// A wallet injected into the page through TonConnect's JS bridge, as a wallet's in-app browser injects one:
// `window[jsBridgeKey].tonconnect` speaks protocol version 2 (connect, restoreConnection, send, listen,
// disconnect). The page-side bridge only relays: what the wallet answers and signs is decided in the test
// process, through functions exposed to the page.
import type { Page } from 'playwright-core';
import { z } from 'zod';

/** TonConnect's `ton_addr` reply: the account the wallet connects with. */
export interface TonAddressItem {
  name: 'ton_addr';
  /** Raw form, `0:<hex>`. */
  address: string;
  /** Network global id: '-239' mainnet, '-3' testnet. */
  network: string;
  /** Base64 BOC of the wallet's StateInit. */
  walletStateInit: string;
  /** Hex Ed25519 public key. */
  publicKey: string;
}

/** A wallet's entry in TonConnect's wallets list (wallets-v2.json), which is how an injected wallet is found. */
export interface WalletInfo {
  name: string;
  app_name: string;
  image: string;
  about_url: string;
  platforms: string[];
}

/** `connect`'s request, as TonConnect sends it. */
export const ConnectRequest = z.object({
  manifestUrl: z.url(),
  items: z.array(z.object({ name: z.enum(['ton_addr', 'ton_proof']), payload: z.string().optional() })),
});
export type ConnectRequest = z.output<typeof ConnectRequest>;

/** `sendTransaction`'s request (its one JSON parameter), as TonConnect sends it. */
export const TransferRequest = z.object({
  valid_until: z.number().int(),
  network: z.string().optional(),
  from: z.string().optional(),
  messages: z
    .array(
      z.object({
        address: z.string().min(1),
        amount: z.string().regex(/^\d+$/),
        payload: z.string().optional(),
        stateInit: z.string().optional(),
      }),
    )
    .min(1),
});
export type TransferRequest = z.output<typeof TransferRequest>;

export interface InjectedWallet {
  /** Where the wallet sits on `window`; TonConnect looks it up by its wallets list entry's `js` bridge key. */
  jsBridgeKey: string;
  walletInfo: WalletInfo;
  /** Answers a connect request with the account, or throws to refuse it. */
  connect(request: ConnectRequest): Promise<TonAddressItem>;
  /** Signs (and a real wallet sends) the transfer; returns the BOC TonConnect hands the app, or throws to decline. */
  sendTransaction(request: TransferRequest): Promise<string>;
}

/** TonConnect's error codes for a bad request (connect and sendTransaction alike). */
const BAD_REQUEST = 1;

/** Injects `wallet` into every document the page opens; call before the page navigates. */
export async function injectTonConnectWallet(page: Page, wallet: InjectedWallet): Promise<void> {
  await page.exposeFunction('testWalletConnect', async (json: string) =>
    JSON.stringify(await wallet.connect(ConnectRequest.parse(JSON.parse(json)))),
  );
  await page.exposeFunction('testWalletSendTransaction', (json: string) =>
    wallet.sendTransaction(TransferRequest.parse(JSON.parse(json))),
  );
  await page.addInitScript(
    ({ jsBridgeKey, walletInfo, badRequest }) => {
      const scope = window as unknown as Record<string, unknown> & {
        testWalletConnect: (json: string) => Promise<string>;
        testWalletSendTransaction: (json: string) => Promise<string>;
      };
      const device = {
        platform: 'browser',
        appName: walletInfo.app_name,
        appVersion: '1.0.0',
        maxProtocolVersion: 2,
        features: ['SendTransaction', { name: 'SendTransaction', maxMessages: 4 }],
      };
      let account: unknown;
      let eventId = 0;
      const connectEvent = () => ({ event: 'connect', id: ++eventId, payload: { items: [account], device } });
      const connectError = (message: string) => ({
        event: 'connect_error',
        id: ++eventId,
        payload: { code: badRequest, message },
      });
      scope[jsBridgeKey] = {
        tonconnect: {
          deviceInfo: device,
          walletInfo,
          protocolVersion: 2,
          isWalletBrowser: true,
          connect: async (protocolVersion: number, request: unknown) => {
            if (protocolVersion !== 2) return connectError(`protocol version ${protocolVersion}`);
            try {
              account = JSON.parse(await scope.testWalletConnect(JSON.stringify(request)));
              return connectEvent();
            } catch (error) {
              return connectError(String(error));
            }
          },
          restoreConnection: async () =>
            account === undefined ? connectError('not connected') : connectEvent(),
          send: async (request: { method: string; params: string[]; id: string }) => {
            try {
              if (request.method === 'sendTransaction') {
                return {
                  result: await scope.testWalletSendTransaction(request.params[0] ?? ''),
                  id: request.id,
                };
              }
              if (request.method === 'disconnect') {
                account = undefined;
                return { result: {}, id: request.id };
              }
              return { error: { code: 400, message: `unsupported ${request.method}` }, id: request.id };
            } catch (error) {
              return { error: { code: badRequest, message: String(error) }, id: request.id };
            }
          },
          listen: () => () => {},
          disconnect: () => {
            account = undefined;
          },
        },
      };
    },
    { jsBridgeKey: wallet.jsBridgeKey, walletInfo: wallet.walletInfo, badRequest: BAD_REQUEST },
  );
}
