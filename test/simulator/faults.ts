import type { IncomingMessage, ServerResponse } from 'node:http';
import { send } from './http.ts';
import type { Reply } from './http.ts';
import type { Fault, ProviderStats, RequestRecord } from './types.ts';

export class FaultQueue {
  #queue: Fault[] = [];

  push(fault: Fault, times = 1): void {
    if (!Number.isInteger(times) || times < 1)
      throw new RangeError(`times must be a positive integer, got ${times}`);
    for (let i = 0; i < times; i++) this.#queue.push(fault);
  }

  shift(): Fault | undefined {
    return this.#queue.shift();
  }

  clear(): void {
    this.#queue = [];
  }
}

/**
 * The bookkeeping every simulated token endpoint does on arrival: note the grant type (counting refreshes) and
 * take the next injected fault, if any.
 */
export function admitTokenRequest(
  params: URLSearchParams,
  record: RequestRecord,
  stats: ProviderStats,
  faults: FaultQueue,
): Fault | undefined {
  const grantType = params.get('grant_type');
  if (grantType !== null) record.grantType = grantType;
  if (grantType === 'refresh_token') stats.refreshRequests++;
  const fault = faults.shift();
  if (fault) stats.faultsServed++;
  return fault;
}

export interface TokenRequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  fault: Fault | undefined;
  latencyMs: number;
  wait(ms: number): Promise<void>;
  /** The provider's error body for a status fault that brings none. */
  errorBody(status: number): object;
  /** Renders status faults in the provider's own way (e.g. Withings reports errors inside HTTP 200). */
  faultReply?: (fault: { status: number; body?: string | object; headers?: Record<string, string> }) => Reply;
}

/** Answers a token-endpoint request, letting the fault (if any) replace or wrap the normal processing. */
export async function answerTokenRequest(ctx: TokenRequestContext, process: () => Reply): Promise<void> {
  const { res, fault } = ctx;
  if (ctx.latencyMs > 0) await ctx.wait(ctx.latencyMs);
  switch (fault?.kind) {
    case 'hang':
      return;
    case 'reset':
      ctx.req.socket.resetAndDestroy();
      return;
    case 'status':
      send(res, faultReply(fault, ctx));
      return;
    case 'garbage':
      send(res, {
        status: fault.status ?? 200,
        body: GARBAGE_PAGE,
        headers: { 'content-type': 'text/html; charset=utf-8' },
      });
      return;
    case 'oversized':
      await sendOversized(res, fault.bytes);
      return;
    case 'delay':
      await ctx.wait(fault.ms);
      break;
  }
  // The client may have given up meanwhile; a real provider still processes what it received.
  const reply = process();
  if (fault?.kind === 'rotate-then-hang') return;
  if (fault?.kind === 'omit') return send(res, omitFields(reply, fault.fields));
  send(res, fault?.kind === 'rotate-then-status' ? faultReply(fault, ctx) : reply);
}

/** Strips top-level fields from a JSON success body (simulators that wrap their bodies strip them themselves). */
function omitFields(reply: Reply, fields: readonly string[]): Reply {
  if (reply.status !== 200 || typeof reply.body !== 'object') return reply;
  const body: Record<string, unknown> = { ...(reply.body as Record<string, unknown>) };
  for (const field of fields) delete body[field];
  return { ...reply, body };
}

function faultReply(
  fault: { status: number; body?: string | object; headers?: Record<string, string> },
  ctx: TokenRequestContext,
): Reply {
  if (ctx.faultReply && fault.body === undefined) return ctx.faultReply(fault);
  const reply: Reply = { status: fault.status, body: fault.body ?? ctx.errorBody(fault.status) };
  if (fault.headers) reply.headers = fault.headers;
  return reply;
}

const GARBAGE_PAGE =
  '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>' +
  '<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n';

/** A JSON-looking body of exactly `bytes` bytes (at least the JSON frame), streamed with backpressure. */
async function sendOversized(res: ServerResponse, bytes: number): Promise<void> {
  const head = '{"access_token":"';
  const tail = '"}';
  let padding = Math.max(0, bytes - head.length - tail.length);
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(head.length + padding + tail.length),
  });
  res.write(head);
  const chunk = 'A'.repeat(64 * 1024);
  while (padding > 0 && !res.destroyed) {
    const piece = padding >= chunk.length ? chunk : chunk.slice(0, padding);
    padding -= piece.length;
    if (!res.write(piece)) await drainOrClose(res);
  }
  if (!res.destroyed) res.end(tail);
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
