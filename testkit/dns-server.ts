/**
 * A tiny authoritative DNS server on a loopback UDP port, answering A records for the names it
 * is given (and nothing else). SpiceDB's dispatch finds its peers by resolving one DNS name to
 * every node (`--dispatch-upstream-addr dns://127.0.0.1:PORT/name:port`, grpc-go asks that DNS
 * server), the way a compose network alias or a headless Kubernetes service does, without
 * touching the machine's resolver or /etc/hosts.
 */
import dgram from 'node:dgram';

export interface DnsServer {
  /** `127.0.0.1:port`: the authority of a `dns://` target. */
  readonly address: string;
  /** Sets the A records of `name` (empty: the name has no address). */
  set(name: string, addresses: string[]): void;
  close(): Promise<void>;
}

const TYPE_A = 1;
const CLASS_IN = 1;

/** The question's name (lowercase, no trailing dot), type, and where the question ends. */
function question(packet: Buffer): { name: string; type: number; end: number } | undefined {
  let offset = 12;
  const labels: string[] = [];
  while (offset < packet.length) {
    const length = packet[offset] ?? 0;
    if (length === 0) break;
    if (length > 63) return undefined;
    labels.push(packet.toString('ascii', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  if (offset + 5 > packet.length) return undefined;
  return {
    name: labels.join('.').toLowerCase(),
    type: packet.readUInt16BE(offset + 1),
    end: offset + 5,
  };
}

function answer(query: Buffer, records: Map<string, string[]>): Buffer | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const asked = question(query);
  if (!asked) return undefined;
  const known = records.get(asked.name);
  const addresses = asked.type === TYPE_A ? (known ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, AA, the query's RD, RA; NXDOMAIN for a name it does not serve.
  const flags = 0x8000 | 0x0400 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | (known ? 0 : 3);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records_ = addresses.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(CLASS_IN, 4);
    record.writeUInt32BE(1, 6); // TTL 1 s: a change is seen at the next lookup
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((part, i) => record.writeUInt8(Number(part), 12 + i));
    return record;
  });
  return Buffer.concat([header, query.subarray(12, asked.end), ...records_]);
}

export async function startDnsServer(): Promise<DnsServer> {
  const records = new Map<string, string[]>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    const reply = answer(message, records);
    if (reply) socket.send(reply, remote.port, remote.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    set: (name, addresses) => {
      records.set(name.toLowerCase().replace(/\.$/, ''), [...addresses]);
    },
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
