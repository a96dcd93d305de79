import type { TopUpIntent } from '@cocoon/shared/protocol/app-api';
import { invoice } from '@telegram-apps/sdk-react';
import { TonConnectButton, TonConnectUIProvider, useTonConnectUI, useTonWallet } from '@tonconnect/ui-react';
import { useCallback, useEffect, useState } from 'react';
import type { Api } from '../api.js';
import { formatTon, parseTon } from '../format.js';
import { haptic, useMainButton } from '../telegram.js';
import { Loaded, Row, Section } from '../ui.js';
import { useAsync } from '../use-async.js';

const TON_PRESETS = ['1', '5', '10'];
const STAR_PRESETS = [50, 250, 1000];
const POLL_MS = 3000;

/** TonConnect lives on this page only, so other pages do not load the wallet list. */
export function TopUp({ api }: { api: Api }) {
  const [me, reloadMe] = useAsync(() => api.me(), [api]);
  return (
    <TonConnectUIProvider
      manifestUrl={`${window.location.origin}/tonconnect-manifest.json`}
      analytics={{ mode: 'off' }}
    >
      <Loaded state={me} retry={reloadMe}>
        {({ balance }) => (
          <Section>
            <Row label="TON credit" value={formatTon(balance.ton, 4)} />
            <Row label="Stars credit" value={`${balance.stars} ⭐`} />
          </Section>
        )}
      </Loaded>
      <TonTopUp api={api} onCredited={reloadMe} />
      <StarsTopUp api={api} onPaid={reloadMe} />
    </TonConnectUIProvider>
  );
}

type Transfer =
  | { step: 'idle' }
  | { step: 'signing' }
  | { step: 'pending'; intent: TopUpIntent }
  | { step: 'confirmed'; intent: TopUpIntent }
  | { step: 'failed'; message: string };

function TonTopUp({ api, onCredited }: { api: Api; onCredited: () => void }) {
  const [tonConnectUI] = useTonConnectUI();
  const wallet = useTonWallet();
  const [text, setText] = useState('1');
  const [transfer, setTransfer] = useState<Transfer>({ step: 'idle' });
  const amount = parseTon(text);

  const busy = transfer.step === 'signing';
  const send = useCallback(async () => {
    if (amount === undefined || busy) return;
    if (wallet === null) {
      await tonConnectUI.openModal();
      return;
    }
    setTransfer({ step: 'signing' });
    try {
      const intent = await api.createTopUp(amount);
      await tonConnectUI.sendTransaction({
        validUntil: intent.validUntil,
        messages: [{ address: intent.address, amount: intent.amount.toString(), payload: intent.payload }],
      });
      haptic.tap();
      // The wallet's answer only says it sent the message: the credit waits for the server to see it on chain.
      setTransfer({ step: 'pending', intent });
    } catch (error) {
      haptic.error();
      setTransfer({ step: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
  }, [amount, api, busy, tonConnectUI, wallet]);

  const pendingId = transfer.step === 'pending' ? transfer.intent.id : undefined;
  useEffect(() => {
    if (pendingId === undefined) return;
    const timer = setInterval(async () => {
      const intent = await api.topUp(pendingId).catch(() => undefined);
      if (intent?.status === 'confirmed') {
        haptic.success();
        setTransfer({ step: 'confirmed', intent });
        onCredited();
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [api, pendingId, onCredited]);

  const label =
    wallet === null
      ? 'Connect wallet'
      : amount === undefined
        ? 'Enter an amount'
        : `Top up ${formatTon(amount)}`;
  const native = useMainButton({
    text: label,
    enabled: amount !== undefined && !busy,
    loading: busy,
    onClick: send,
  });

  return (
    <Section
      title="TON"
      footer="Sent to the app's client contract with your reference; credited once the chain confirms it."
    >
      <div className="wallet">
        <TonConnectButton />
      </div>
      <div className="chips">
        {TON_PRESETS.map((preset) => (
          <button
            key={preset}
            type="button"
            className={text === preset ? 'chip selected' : 'chip'}
            onClick={() => setText(preset)}
          >
            {preset} TON
          </button>
        ))}
      </div>
      <label className="field">
        <span>Amount, TON</span>
        <input inputMode="decimal" value={text} onChange={(event) => setText(event.target.value)} />
      </label>
      {native ? null : (
        <button type="button" className="button" disabled={amount === undefined || busy} onClick={send}>
          {label}
        </button>
      )}
      {transfer.step === 'pending' ? (
        <p className="status pending">
          Waiting for the chain: {formatTon(transfer.intent.amount)} sent, not credited yet…
        </p>
      ) : null}
      {transfer.step === 'confirmed' ? (
        <p className="status ok-text">Credited {formatTon(transfer.intent.credited ?? 0n)}.</p>
      ) : null}
      {transfer.step === 'failed' ? <p className="status error">{transfer.message}</p> : null}
    </Section>
  );
}

function StarsTopUp({ api, onPaid }: { api: Api; onPaid: () => void }) {
  const [status, setStatus] = useState<string | undefined>();
  const buy = async (stars: number) => {
    try {
      const { link } = await api.starsInvoice(stars);
      if (!invoice.open.isAvailable()) {
        setStatus('Open the app in Telegram to pay with Stars.');
        return;
      }
      const result = await invoice.open(link, 'url');
      if (result === 'paid') {
        haptic.success();
        setStatus(`Paid ${stars} ⭐; the credit appears once Telegram confirms it.`);
        onPaid();
      } else {
        setStatus(`Payment ${result}.`);
      }
    } catch (error) {
      haptic.error();
      setStatus(error instanceof Error ? error.message : String(error));
    }
  };
  return (
    <Section title="Telegram Stars">
      <div className="chips">
        {STAR_PRESETS.map((stars) => (
          <button key={stars} type="button" className="chip" onClick={() => buy(stars)}>
            {stars} ⭐
          </button>
        ))}
      </div>
      {status === undefined ? null : <p className="status">{status}</p>}
    </Section>
  );
}
