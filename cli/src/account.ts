// The CLI's own money: its wallet and the Client contract its vouchers are charged against (`cocoon balance`,
// `topup`, `withdraw`). On the local network the wallet is a mnemonic made in the data folder and the chain is
// reached through the JSON-RPC `npm start` serves, so the code path is the one testnet and mainnet take.
import { join } from 'node:path';
import {
  type Chain,
  ClientContract,
  type ClientState,
  chainOptionsFromConfig,
  loadOrCreateMnemonic,
  NetworkChain,
  openChain,
  Value,
} from '@cocoon/contracts';
import type { Config } from '@cocoon/shared';
import { FileVoucherStore } from '@cocoon/shared/client/voucher-file';
import { Address, type OpenedContract, toNano } from '@ton/core';
import { z } from 'zod';
import { type LocalNetwork, readLocalNetwork } from './local-network.js';

/** The CLI's name in the data folder: its client key, wallet mnemonic and voucher totals. */
export const CLI_ACCOUNT = 'cli';

/** An amount of TON as typed (`1`, `0.25`): decimal text to nanotons, never through a float. */
export const TonAmount = z
  .string()
  .trim()
  .regex(/^(0|[1-9]\d*)(\.\d{1,9})?$/, 'expected an amount of TON such as 1 or 0.25 (at most 9 decimals)')
  .transform((text) => toNano(text))
  .refine((nanotons) => nanotons > 0n, 'expected more than 0 TON');

const NANO = 1_000_000_000n;

/** Nanotons as TON with all 9 decimals, e.g. `1.000000000 TON`. */
export function formatTon(nanotons: bigint): string {
  const abs = nanotons < 0n ? -nanotons : nanotons;
  return `${nanotons < 0n ? '-' : ''}${abs / NANO}.${(abs % NANO).toString().padStart(9, '0')} TON`;
}

/** What a wallet message costs at most beyond its value (gas and forwarding, with margin). */
const WALLET_FEE_RESERVE = toNano('0.01');
/** How long a command waits for the Client contract to show a message's effect. */
const SETTLE_TIMEOUT_MS = 90_000;
const SETTLE_POLL_MS = 500;

export interface CliAccount {
  chain: Chain;
  contract: OpenedContract<ClientContract>;
  vouchers: FileVoucherStore;
  /** Where the wallet's TON comes from on this network, for an insufficient-balance error. */
  fundingHint: string;
}

/**
 * The CLI's wallet and Client contract. `npm start` funded both and wrote them into network.json; on the local
 * network the wallet talks to the chain through the loopback JSON-RPC, which answers only while npm start runs.
 */
export async function openCliAccount(config: Config): Promise<CliAccount> {
  const dataDir = config.COCOON_DATA_DIR;
  const local = await readLocalNetwork(dataDir);
  const chain =
    config.TON_NETWORK === 'sandbox'
      ? await connectLocalChain(dataDir, local)
      : await openChain(chainOptionsFromConfig(config));
  const owner = Address.parse(local.cliAccount.owner);
  if (!owner.equals(chain.wallet))
    throw new Error(
      `the CLI's Client contract ${local.cliAccount.contract} belongs to ${owner}, not to this wallet (${chain.wallet}): restart \`npm start\` to set up this wallet's`,
    );
  return {
    chain,
    contract: chain.open(ClientContract.createFromAddress(Address.parse(local.cliAccount.contract))),
    vouchers: new FileVoucherStore(join(dataDir, `${CLI_ACCOUNT}-vouchers.json`)),
    fundingHint:
      config.TON_NETWORK === 'sandbox'
        ? '`npm start` gives a new local wallet 100 TON on its first start'
        : `send TON to it on ${config.TON_NETWORK}`,
  };
}

/**
 * The CLI's wallet on the chain `npm start` runs, through its loopback JSON-RPC (which answers only while
 * npm start runs), as a wallet reaches toncenter on testnet and mainnet.
 */
export async function connectLocalChain(dataDir: string, local: LocalNetwork): Promise<Chain> {
  if (local.chainRpcUrl === undefined)
    throw new Error(`${dataDir}/network.json is not a local network's: restart \`npm start\``);
  const chain = await NetworkChain.connect({
    network: 'sandbox',
    endpoint: local.chainRpcUrl,
    mnemonic: await loadOrCreateMnemonic(dataDir, CLI_ACCOUNT),
    // the local chain runs a message and all it causes before it answers: no block time to wait for
    pollIntervalMs: 100,
    confirmTimeoutMs: 30_000,
  });
  try {
    await chain.getBalance(chain.wallet);
  } catch (error) {
    await chain.close();
    if ((error as { code?: string }).code !== 'ECONNREFUSED') throw error;
    throw new Error(
      `the local network is not running (nothing answers at ${local.chainRpcUrl}): start it with \`npm start\``,
    );
  }
  return chain;
}

export interface AccountBalance {
  contract: Address;
  state: ClientState;
  /** The cumulative total of the vouchers this CLI signed (receipts it verified). */
  signed: bigint;
  /** Signed but not yet charged on chain: owed to the proxy, so not to be withdrawn. */
  pending: bigint;
  /** What jobs can still spend: deposit + stake − pending. */
  available: bigint;
  /** What `cocoon withdraw` may take: deposit − pending (a stake leaves only by a refund). */
  withdrawable: bigint;
  wallet: Address;
  walletBalance: bigint;
}

const atLeastZero = (value: bigint) => (value > 0n ? value : 0n);

export async function readBalance(account: CliAccount): Promise<AccountBalance> {
  const { chain, contract } = account;
  const state = await contract.getState();
  const stored = await account.vouchers.load();
  if (stored !== undefined && !Address.parse(stored.contract).equals(contract.address))
    throw new Error(
      `${account.vouchers.path} holds totals for ${stored.contract}, not for this Client contract (${contract.address.toRawString()})`,
    );
  const signed = stored?.total ?? 0n;
  const pending = atLeastZero(signed - state.chargedTotal);
  return {
    contract: contract.address,
    state,
    signed,
    pending,
    available: atLeastZero(state.balance + state.stake - pending),
    withdrawable: atLeastZero(state.balance - pending),
    wallet: chain.wallet,
    walletBalance: await chain.getBalance(chain.wallet),
  };
}

export function formatBalance(b: AccountBalance): string {
  const line = (name: string, value: bigint, note: string) =>
    `  ${name.padEnd(12)} ${formatTon(value).padStart(22)}   ${note}`;
  return [
    `Client contract  ${b.contract}`,
    line('deposit', b.state.balance, 'on chain, not yet charged'),
    line('stake', b.state.stake, 'spent only after the deposit; leaves by a refund request'),
    line('charged', b.state.chargedTotal, 'paid to the proxy on chain'),
    line('signed', b.signed, 'vouchers you signed, for receipts you verified'),
    line('pending', b.pending, 'signed, not yet charged: owed to the proxy'),
    line('available', b.available, 'what jobs can still spend'),
    line('withdrawable', b.withdrawable, '`cocoon withdraw` takes it back at once'),
    ...(b.state.closeAt === 0
      ? []
      : [
          `  closing: a refund was requested; everything can be forced back from ${new Date(b.state.closeAt * 1000).toISOString()}`,
        ]),
    `Wallet           ${b.wallet}  ${formatTon(b.walletBalance)}`,
  ].join('\n');
}

/** Funds in the contract that charges cannot move: deposit + stake + charged (a charge moves value within it). */
const funded = (s: ClientState) => s.balance + s.stake + s.chargedTotal;

async function settled(
  contract: OpenedContract<ClientContract>,
  done: (state: ClientState) => boolean,
): Promise<ClientState> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const state = await contract.getState();
    if (done(state)) return state;
    if (Date.now() > deadline)
      throw new Error(
        `the wallet sent the message, but the Client contract showed no effect within ${SETTLE_TIMEOUT_MS / 1000} s; check \`cocoon balance\` later`,
      );
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
}

async function requireWalletFunds(account: CliAccount, needed: bigint, what: string): Promise<void> {
  const { chain } = account;
  const held = await chain.getBalance(chain.wallet);
  if (held < needed)
    throw new Error(
      `the wallet ${chain.wallet} holds ${formatTon(held)}; ${what} needs ${formatTon(needed)} with fees (${account.fundingHint})`,
    );
}

/** Sends `amount` from the wallet to the Client contract and waits until the contract credited it. */
export async function topUp(account: CliAccount, amount: bigint): Promise<{ credited: bigint }> {
  const { chain, contract } = account;
  await requireWalletFunds(account, amount + WALLET_FEE_RESERVE, `a top-up of ${formatTon(amount)}`);
  const before = await contract.getState();
  await contract.sendTopUp(chain.sender, { value: amount });
  const after = await settled(contract, (s) => funded(s) > funded(before));
  return { credited: funded(after) - funded(before) };
}

/**
 * Withdraws `amount` (default: all that is withdrawable) of the deposit to the wallet, at once: the Client
 * contract lets its owner take back the uncharged deposit any time. Only what the CLI signed and the proxy has
 * not charged yet stays, since it is owed.
 */
export async function withdraw(account: CliAccount, amount: bigint | undefined): Promise<{ amount: bigint }> {
  const { chain, contract } = account;
  const balance = await readBalance(account);
  const wanted = amount ?? balance.withdrawable;
  if (wanted === 0n)
    throw new Error(
      `nothing to withdraw: the deposit is ${formatTon(balance.state.balance)}, of which ${formatTon(balance.pending)} is signed to the proxy and not yet charged`,
    );
  if (wanted > balance.withdrawable)
    throw new Error(
      `at most ${formatTon(balance.withdrawable)} can be withdrawn: the deposit is ${formatTon(balance.state.balance)}, of which ${formatTon(balance.pending)} is signed to the proxy and not yet charged`,
    );
  await requireWalletFunds(account, Value.ownerOp + WALLET_FEE_RESERVE, 'a withdrawal message');
  const before = balance.state;
  await contract.sendWithdraw(chain.sender, { amount: wanted });
  await settled(contract, (s) => funded(s) <= funded(before) - wanted);
  return { amount: wanted };
}
