/**
 * The audit trail: one structured record per mutation, refusals included. Records go to an
 * injectable sink so the deployment chooses where they land (stdout JSON lines by default, a
 * logger, or a test's array).
 */

/** `ok`, or the tRPC error code the caller received (`FORBIDDEN`, `BAD_REQUEST`, ...). */
export type AuditOutcome = string;

export interface AuditRecord {
  /** ISO-8601 time the mutation finished. */
  time: string;
  requestId: string;
  /** The verified caller's user id; `null` when the token was refused. */
  caller: string | null;
  /** The procedure path, e.g. `org.addMember`. */
  operation: string;
  /** The ids named by the input (orgId, projectId, userId, ...), as sent, shortened if huge. */
  target: Record<string, string>;
  /** The ZedToken of the write when it was acknowledged, else `null`. */
  zedToken: string | null;
  outcome: AuditOutcome;
}

export type AuditSink = (record: AuditRecord) => void;

/** Input fields that identify what a mutation acts on. */
const TARGET_FIELDS = [
  'orgId',
  'projectId',
  'userId',
  'clusterId',
  'volumeId',
  'role',
  'expiresAt',
  'cascade',
  'resource',
  'subject',
] as const;

/** Target values are caller-supplied: long ones are cut so one request cannot flood the log. */
export const MAX_TARGET_VALUE_LENGTH = 256;

function shorten(value: string): string {
  return value.length <= MAX_TARGET_VALUE_LENGTH
    ? value
    : `${value.slice(0, MAX_TARGET_VALUE_LENGTH)}...(${value.length} chars)`;
}

/** The identifying fields of a raw (possibly invalid) input; anything not a string is typed. */
export function targetOf(input: unknown): Record<string, string> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return {};
  const target: Record<string, string> = {};
  for (const field of TARGET_FIELDS) {
    if (!Object.prototype.hasOwnProperty.call(input, field)) continue;
    const value: unknown = (input as Record<string, unknown>)[field];
    target[field] =
      typeof value === 'string'
        ? shorten(value)
        : typeof value === 'boolean'
          ? String(value)
          : `<${value === null ? 'null' : typeof value}>`;
  }
  return target;
}

export function zedTokenOf(output: unknown): string | null {
  if (typeof output !== 'object' || output === null) return null;
  const token = (output as { zedToken?: unknown }).zedToken;
  return typeof token === 'string' && token !== '' ? token : null;
}

/** Writes each record as one JSON line to a stream (stdout by default). */
export function jsonLinesSink(
  stream: { write(chunk: string): unknown } = process.stdout,
): AuditSink {
  return (record) => {
    stream.write(`${JSON.stringify({ audit: true, ...record })}\n`);
  };
}

/** Hands records to a structured logger (pino's `info(obj, msg)` fits). */
export function loggerSink(logger: { info(object: object, message: string): void }): AuditSink {
  return (record) => logger.info({ audit: record }, 'audit');
}

export const discardSink: AuditSink = () => undefined;

export type AuditDestination = 'stdout' | 'stderr' | 'off';

export function sinkFor(destination: AuditDestination): AuditSink {
  if (destination === 'off') return discardSink;
  return jsonLinesSink(destination === 'stderr' ? process.stderr : process.stdout);
}

export class AuditTrail {
  constructor(
    private readonly sink: AuditSink,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  record(entry: Omit<AuditRecord, 'time'>): void {
    try {
      this.sink({ time: this.clock().toISOString(), ...entry });
    } catch (error) {
      // A failing sink must not turn a finished mutation into an error for its caller; the
      // failure itself still leaves a trace.
      process.stderr.write(`audit sink failed for ${entry.operation}: ${String(error)}\n`);
    }
  }
}
