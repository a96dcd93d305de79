import { randomBytes, toHex } from '@cocoon/shared';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore as openEmptyTestStore } from '../../shared/test/support/test-store.js';
import { fixedAllowance, StoreCredit } from '../src/credit.js';
import { type ProxyDb, proxyMigrations } from '../src/db.js';

let store: Awaited<ReturnType<typeof openEmptyTestStore<ProxyDb>>>;

beforeAll(async () => {
  store = await openEmptyTestStore<ProxyDb>('proxy-migrations');
});
afterAll(async () => {
  await store?.close();
});

const hex = (bytes: number) => toHex(randomBytes(bytes));

describe('proxy migrations', () => {
  it('turn the reservations of a proxy from before credit leases into leases released once stale', async () => {
    const before = Object.fromEntries(
      Object.entries(proxyMigrations.migrations).filter(([name]) => name < '0005'),
    );
    await store.migrate({ name: proxyMigrations.name, migrations: before });
    const [a, b] = [hex(32), hex(32)];
    await sql`
      insert into proxy_reservations (job_id, client, amount, created_at) values
        (${hex(16)}, ${a}, 300, now() - interval '1 hour'), (${hex(16)}, ${a}, 200, now() - interval '1 hour'),
        (${hex(16)}, ${b}, 50, now() - interval '1 hour')`.execute(store.db);
    await sql`
      insert into proxy_credit (client, charged, reserved) values (${a}, 120, 500), (${b}, 0, 50)`.execute(
      store.db,
    );

    expect(await store.migrate(proxyMigrations)).toEqual(['0005_credit_leases']);
    const leases = await store.db
      .selectFrom('proxy_credit_leases')
      .select(['client', 'holder', 'amount'])
      .orderBy('amount')
      .execute();
    expect(leases).toEqual([
      { client: b, holder: 'reservations-before-leases', amount: 50n },
      { client: a, holder: 'reservations-before-leases', amount: 500n },
    ]);
    const credit = new StoreCredit(store.db, fixedAllowance(1_000n));
    expect(await credit.available(a)).toBe(500n);
    expect(await credit.recover(60_000)).toBe(2);
    expect(await credit.available(a)).toBe(1_000n);
    expect(
      await store.db.selectFrom('proxy_credit').select(['client', 'held']).orderBy('client').execute(),
    ).toEqual([a, b].sort().map((client) => ({ client, held: 0n })));
    await credit.reserve(a, hex(16), 100n);
    await credit.close();
  });
});
