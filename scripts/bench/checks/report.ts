import type { BlockResult } from './closed-loop.js';

/** One measured cell: the sum of its A B B A blocks. */
export interface Row {
  section: string;
  scenario: string;
  mix: 'distinct' | 'duplicates' | '-';
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  /** Requests per second. */
  rate: number;
  p50: number;
  p95: number;
  p99: number;
  /** CPU of the service process per request (createCaller: its process, the loop included). */
  serviceCpuMs: number | null;
  /** CPU of SpiceDB per request. */
  spicedbCpuMs: number;
  /** CPU of the load generator per request (direct: the whole client side of the call). */
  clientCpuMs: number;
  firstError?: string;
}

export interface Measured {
  block: BlockResult;
  serviceCpuMs: number | null;
  spicedbCpuMs: number;
}

const round = (value: number, digits: number) =>
  Number.isFinite(value) ? Number(value.toFixed(digits)) : NaN;

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN);

export function rowOf(
  cell: Pick<Row, 'section' | 'scenario' | 'mix' | 'concurrency'>,
  blocks: Measured[],
): Row {
  const latencies = blocks.flatMap((b) => b.block.latencies).sort((a, b) => a - b);
  const requests = latencies.length;
  const seconds = blocks.reduce((sum, b) => sum + b.block.seconds, 0);
  const errors = blocks.reduce((sum, b) => sum + b.block.errors, 0);
  const per = (total: number) => round(total / Math.max(1, requests + errors), 3);
  const service = blocks.map((b) => b.serviceCpuMs);
  const firstError = blocks.find((b) => b.block.firstError)?.block.firstError;
  return {
    ...cell,
    requests,
    errors,
    seconds: round(seconds, 2),
    rate: round(requests / seconds, 0),
    p50: round(percentile(latencies, 50), 2),
    p95: round(percentile(latencies, 95), 2),
    p99: round(percentile(latencies, 99), 2),
    serviceCpuMs: service.some((s) => s === null)
      ? null
      : per(service.reduce((sum: number, s) => sum + (s ?? 0), 0)),
    spicedbCpuMs: per(blocks.reduce((sum, b) => sum + b.spicedbCpuMs, 0)),
    clientCpuMs: per(blocks.reduce((sum, b) => sum + b.block.cpuMs, 0)),
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

export const HEADER = [
  'scenario'.padEnd(40),
  'mix'.padEnd(10),
  'c'.padStart(3),
  'req'.padStart(6),
  'req/s'.padStart(7),
  'p50'.padStart(7),
  'p95'.padStart(7),
  'p99'.padStart(7),
  'svcCPU'.padStart(7),
  'sdbCPU'.padStart(7),
  'cliCPU'.padStart(7),
  'err'.padStart(4),
].join(' ');

const ms = (value: number | null) => (value === null ? '-' : value.toFixed(3)).padStart(7);

export function formatRow(row: Row): string {
  return [
    row.scenario.padEnd(40),
    row.mix.padEnd(10),
    String(row.concurrency).padStart(3),
    String(row.requests).padStart(6),
    String(row.rate).padStart(7),
    row.p50.toFixed(2).padStart(7),
    row.p95.toFixed(2).padStart(7),
    row.p99.toFixed(2).padStart(7),
    ms(row.serviceCpuMs),
    ms(row.spicedbCpuMs),
    ms(row.clientCpuMs),
    String(row.errors).padStart(4),
  ].join(' ');
}

export interface Target {
  target: string;
  holds: boolean;
  figures: string;
}
