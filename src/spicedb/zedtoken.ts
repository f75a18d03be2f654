/**
 * ZedTokens as SpiceDB v1.56 writes them: standard base64 of its `DecodedZedToken` protobuf,
 * `{ v1 (field 3): { revision (1): string, datastore_unique_id_prefix (2): string } }`, or the
 * older `deprecated_v1_zookie` (field 2). Measured against the pinned server: garbage and a
 * revision it never issued are INVALID_ARGUMENT "invalid revision requested"; a token of another
 * datastore is silently served fully consistent (its `--datastore-mismatched-zedtoken-behavior`
 * default), so the service itself refuses a token whose datastore prefix is not its own.
 */

export interface DecodedZedToken {
  revision: string;
  /** Which datastore issued it; absent on tokens of older SpiceDB versions. */
  datastorePrefix?: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** One length-delimited or varint field of a protobuf message. */
interface Field {
  number: number;
  wireType: number;
  bytes?: Buffer;
}

function readVarint(buffer: Buffer, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let index = start; index < buffer.length && shift < 64; index += 1) {
    const byte = buffer[index] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: index + 1 };
    shift += 7;
  }
  return undefined;
}

/** The fields of a message, or undefined when the bytes are not a well-formed message. */
function fieldsOf(buffer: Buffer): Field[] | undefined {
  const fields: Field[] = [];
  let offset = 0;
  while (offset < buffer.length) {
    const tag = readVarint(buffer, offset);
    if (tag === undefined || tag.value < 8) return undefined;
    const number = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    offset = tag.next;
    if (wireType === 0) {
      const value = readVarint(buffer, offset);
      if (value === undefined) return undefined;
      fields.push({ number, wireType });
      offset = value.next;
    } else if (wireType === 2) {
      const length = readVarint(buffer, offset);
      if (length === undefined || length.next + length.value > buffer.length) return undefined;
      fields.push({
        number,
        wireType,
        bytes: buffer.subarray(length.next, length.next + length.value),
      });
      offset = length.next + length.value;
    } else {
      return undefined;
    }
  }
  return fields;
}

const PRINTABLE = /^[\x21-\x7e]{1,256}$/;

/** The token's revision and datastore, or undefined when it is not a SpiceDB ZedToken. */
export function decodeZedToken(token: string): DecodedZedToken | undefined {
  if (token.length > 4096 || !BASE64.test(token)) return undefined;
  const bytes = Buffer.from(token, 'base64');
  if (bytes.length === 0) return undefined;
  const top = fieldsOf(bytes);
  const v1 = top?.find((f) => f.number === 3 && f.wireType === 2);
  if (v1?.bytes !== undefined) {
    const inner = fieldsOf(v1.bytes);
    const revision = inner?.find((f) => f.number === 1 && f.wireType === 2)?.bytes?.toString();
    if (revision === undefined || !PRINTABLE.test(revision)) return undefined;
    const prefix = inner?.find((f) => f.number === 2 && f.wireType === 2)?.bytes?.toString();
    return prefix ? { revision, datastorePrefix: prefix } : { revision };
  }
  const zookie = top?.find((f) => f.number === 2 && f.wireType === 2);
  const zookieRevision = zookie?.bytes && fieldsOf(zookie.bytes)?.find((f) => f.number === 1);
  return zookieRevision?.wireType === 0 ? { revision: 'zookie' } : undefined;
}

/** Why a caller's ZedToken is refused (the message names the field), or undefined. */
export function zedTokenProblem(token: string, ownPrefix: string | undefined): string | undefined {
  const decoded = decodeZedToken(token);
  if (decoded === undefined) {
    return 'consistency.atLeastAsFresh is not a ZedToken issued by SpiceDB';
  }
  if (
    ownPrefix !== undefined &&
    decoded.datastorePrefix !== undefined &&
    decoded.datastorePrefix !== ownPrefix
  ) {
    return 'consistency.atLeastAsFresh is a ZedToken of another SpiceDB datastore';
  }
  return undefined;
}

/**
 * SpiceDB's answer to a revision it cannot use: the whole call's INVALID_ARGUMENT "invalid
 * revision requested", or in CheckBulkPermissions each item's "invalid zedtoken: ... revision
 * was invalid" (measured on v1.56.2 with a revision in the future).
 */
export const INVALID_REVISION =
  /invalid revision|invalid zedtoken|revision was invalid|revision .*(not available|unavailable)/i;

export const CONSISTENCY_REFUSED =
  'consistency.atLeastAsFresh names a revision this SpiceDB does not know (a ZedToken of another datastore, or not one it issued)';

/**
 * The datastore prefix of the SpiceDB this process talks to, learnt from the first token
 * SpiceDB hands it (one cheap call when no token has been seen yet).
 */
export class DatastoreIdentity {
  private known: string | undefined;
  private learning: Promise<string | undefined> | undefined;

  constructor(private readonly fetchToken: () => Promise<string>) {}

  observe(token: string): void {
    if (this.known !== undefined || token === '') return;
    this.known = decodeZedToken(token)?.datastorePrefix;
  }

  async prefix(): Promise<string | undefined> {
    if (this.known !== undefined) return this.known;
    this.learning ??= this.fetchToken().then(
      (token) => {
        this.observe(token);
        return this.known;
      },
      () => {
        // Unknown for now (SpiceDB unreachable): the call that follows reports that itself.
        this.learning = undefined;
        return undefined;
      },
    );
    return this.learning;
  }
}
