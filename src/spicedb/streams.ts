import type { ClientReadableStream } from '@grpc/grpc-js';
import { GrpcStatus, grpcStatusOf } from './errors.js';

/**
 * Every message of a server stream, or its first `limit`: the stream is cancelled once they
 * arrived, and that cancellation is not an error.
 */
export function collectStream<T>(stream: ClientReadableStream<T>, limit = Infinity): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => {
      items.push(item);
      if (items.length >= limit) stream.cancel();
    });
    stream.on('error', (error) => {
      if (items.length >= limit && grpcStatusOf(error)?.code === GrpcStatus.CANCELLED) {
        resolve(items);
      } else {
        reject(error);
      }
    });
    stream.on('end', () => resolve(items));
  });
}
