import { TRPCClientError, type Operation, type TRPCLink } from '@trpc/client';
import type { AnyRouter } from '@trpc/server';
import { observable } from '@trpc/server/observable';

/**
 * A batching link for queries with a batch window of 0: the queries asked in one event-loop turn
 * leave together as one GET (tRPC's batch format, `?batch=1`), dispatched on `setImmediate`
 * rather than httpBatchLink's `setTimeout` (at least 1 ms in Node, which every lone query paid).
 * A lone query goes out at once; 64 concurrent ones share a request.
 */
export interface SameTickBatchLinkOptions {
  url: string;
  headers: () => Promise<Record<string, string>> | Record<string, string>;
  /** Calls in one request at most (the service accepts 100). */
  maxItems?: number;
  /** URLs longer than this are split into several requests. */
  maxURLLength?: number;
}

interface Pending {
  op: Operation;
  resolve: (value: { result: { data: unknown } }) => void;
  reject: (error: TRPCClientError<AnyRouter>) => void;
}

type BatchItem = { result: { data: unknown } } | { error: { data?: unknown; message?: string } };

const nextTurn: (run: () => void) => void =
  typeof setImmediate === 'function' ? (run) => setImmediate(run) : (run) => setTimeout(run, 0);

export function sameTickBatchLink<TRouter extends AnyRouter>(
  options: SameTickBatchLinkOptions,
): TRPCLink<TRouter> {
  const maxItems = options.maxItems ?? 100;
  const maxURLLength = options.maxURLLength ?? 8_000;
  let queue: Pending[] = [];

  const urlOf = (batch: Pending[]) => {
    const paths = batch.map((p) => p.op.path).join(',');
    const inputs: Record<number, unknown> = {};
    batch.forEach((p, index) => {
      if (p.op.input !== undefined) inputs[index] = p.op.input;
    });
    return `${options.url}/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(inputs))}`;
  };

  const send = async (batch: Pending[], url: string) => {
    try {
      const response = await fetch(url, { headers: await options.headers() });
      const body = (await response.json()) as BatchItem[] | BatchItem;
      const items = Array.isArray(body) ? body : batch.map(() => body);
      batch.forEach((pending, index) => {
        const item = items[index];
        if (item !== undefined && 'result' in item) pending.resolve({ result: item.result });
        else pending.reject(TRPCClientError.from(item ?? new Error('no answer for this call')));
      });
    } catch (cause) {
      const error = TRPCClientError.from(cause instanceof Error ? cause : new Error(String(cause)));
      for (const pending of batch) pending.reject(error);
    }
  };

  /** Splits the queue into requests of at most maxItems calls and about maxURLLength bytes. */
  const flush = () => {
    const all = queue;
    queue = [];
    let batch: Pending[] = [];
    let length = options.url.length + 20;
    for (const pending of all) {
      const itemLength =
        pending.op.path.length +
        8 +
        encodeURIComponent(JSON.stringify(pending.op.input ?? null)).length;
      if (batch.length > 0 && (batch.length >= maxItems || length + itemLength > maxURLLength)) {
        void send(batch, urlOf(batch));
        batch = [];
        length = options.url.length + 20;
      }
      batch.push(pending);
      length += itemLength;
    }
    if (batch.length > 0) void send(batch, urlOf(batch));
  };

  return () =>
    ({ op }) =>
      observable((observer) => {
        let done = false;
        if (queue.length === 0) nextTurn(flush);
        queue.push({
          op,
          resolve: (value) => {
            if (done) return;
            done = true;
            observer.next(value);
            observer.complete();
          },
          reject: (error) => {
            if (done) return;
            done = true;
            observer.error(error);
          },
        });
        return () => {
          done = true;
        };
      });
}
