/**
 * Creates and migrates a proxy store in the folder given as argument, then exits: the memory benchmark
 * opens an existing folder, as a restarted proxy does, without the creation's memory in its process.
 */
import { openStore } from '@cocoon/shared/store/index';
import { type ProxyDb, proxyMigrations } from '../src/db.js';

const store = await openStore<ProxyDb>({ dataDir: process.argv[2] as string });
await store.migrate(proxyMigrations);
await store.close();
