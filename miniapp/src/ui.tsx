import type { ReactNode } from 'react';
import type { AsyncState } from './use-async.js';

export function Section({
  title,
  children,
  footer,
}: {
  title?: string;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <section className="section">
      {title === undefined ? null : <h2 className="section-title">{title}</h2>}
      <div className="section-body">{children}</div>
      {footer === undefined ? null : <p className="section-footer">{footer}</p>}
    </section>
  );
}

export function Row({ label, value, hint }: { label: ReactNode; value?: ReactNode; hint?: ReactNode }) {
  return (
    <div className="row">
      <div className="row-main">
        <div className="row-label">{label}</div>
        {hint === undefined ? null : <div className="row-hint">{hint}</div>}
      </div>
      {value === undefined ? null : <div className="row-value">{value}</div>}
    </div>
  );
}

/** Renders a loading state, an error with a retry, or the loaded value. */
export function Loaded<T>({
  state,
  retry,
  children,
}: {
  state: AsyncState<T>;
  retry: () => void;
  children: (value: T) => ReactNode;
}) {
  if (state.status === 'loading') return <p className="placeholder">Loading…</p>;
  if (state.status === 'failed') {
    return (
      <div className="placeholder error" role="alert">
        <p>{state.error.message}</p>
        <button type="button" className="button secondary" onClick={retry}>
          Try again
        </button>
      </div>
    );
  }
  return <>{children(state.value)}</>;
}

/** A ✓ or ✗ with an accessible label. */
export function Mark({ ok, label }: { ok: boolean; label: string }) {
  return (
    <span className={ok ? 'mark ok' : 'mark bad'} role="img" aria-label={label} title={label}>
      {ok ? '✓' : '✗'}
    </span>
  );
}
