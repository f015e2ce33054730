import type { ProviderStats, RequestRecord } from './types.ts';

const MAX_RECORDS = 1000;

export function createStats(): ProviderStats {
  return {
    tokenRequests: 0,
    refreshRequests: 0,
    refreshSuccesses: 0,
    graceReplays: 0,
    invalidGrant: 0,
    codeExchanges: 0,
    revocations: 0,
    faultsServed: 0,
    rateLimited: 0,
    apiRequests: 0,
    requests: [],
  };
}

/** Appends a record (dropping the oldest beyond the bound) and returns it so its status can be filled in later. */
export function recordRequest(stats: ProviderStats, record: RequestRecord): RequestRecord {
  stats.requests.push(record);
  if (stats.requests.length > MAX_RECORDS) stats.requests.splice(0, stats.requests.length - MAX_RECORDS);
  return record;
}
