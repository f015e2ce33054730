// SQLite's own tests (schema, file checks) stay in src/stores/sqlite-store.test.ts.
import { defineStoreContract } from './contract.ts';
import { sqliteCapabilities, sqliteFixture } from './sqlite-fixture.ts';

defineStoreContract('SQLite', sqliteCapabilities, sqliteFixture);
