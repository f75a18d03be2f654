/**
 * What SPICEDB_ENDPOINT names: one SpiceDB node (`host:port`), several (`a:50051,b:50051`), or a
 * DNS name whose addresses are the nodes (`dns:///spicedb:50051`, or `dns://10.0.0.2/spicedb:50051`
 * to ask that DNS server), the way a headless Kubernetes service or a compose alias lists them.
 */
import { promises as dns } from 'node:dns';

export type SpiceDbTarget =
  | { kind: 'static'; addresses: string[] }
  | { kind: 'dns'; name: string; port: number; server?: string };

export class EndpointError extends Error {
  override name = 'EndpointError';
}

const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;

function hostPort(text: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || !HOST.test(match[1]) || port < 1 || port > 65535) {
    throw new EndpointError(`"${text}" is not host:port`);
  }
  return { host: match[1], port };
}

/** Parses SPICEDB_ENDPOINT; the error names what is wrong with it. */
export function parseEndpoint(text: string): SpiceDbTarget {
  const value = text.trim();
  const dnsTarget = /^dns:\/\/([^/]*)\/(.*)$/.exec(value);
  if (dnsTarget) {
    const { host, port } = hostPort(dnsTarget[2] ?? '');
    const server = dnsTarget[1] ?? '';
    if (server !== '') hostPort(server.includes(':') ? server : `${server}:53`);
    return { kind: 'dns', name: host, port, ...(server !== '' ? { server } : {}) };
  }
  const addresses = value.split(',').map((part) => part.trim());
  if (addresses.some((a) => a === '')) throw new EndpointError('has an empty entry in its list');
  for (const address of addresses) hostPort(address);
  if (new Set(addresses).size !== addresses.length) {
    throw new EndpointError('names the same node twice');
  }
  return { kind: 'static', addresses };
}

/** The zod-friendly check: undefined when valid, else the reason. */
export function endpointProblem(text: string): string | undefined {
  try {
    parseEndpoint(text);
    return undefined;
  } catch (error) {
    return error instanceof EndpointError ? error.message : String(error);
  }
}

export type Lookup = (name: string, server?: string) => Promise<string[]>;

/** Every IPv4 and IPv6 address of `name` (through `server` when given, else the system's resolver). */
export const lookupAll: Lookup = async (name, server) => {
  if (server === undefined) {
    const found = await dns.lookup(name, { all: true });
    return found.map((entry) => entry.address);
  }
  const resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([server]);
  const [v4, v6] = await Promise.all([
    resolver.resolve4(name).catch(() => [] as string[]),
    resolver.resolve6(name).catch(() => [] as string[]),
  ]);
  return [...v4, ...v6];
};

/** The nodes' `host:port` addresses, in a stable order. */
export async function resolveTarget(target: SpiceDbTarget, lookup = lookupAll): Promise<string[]> {
  if (target.kind === 'static') return target.addresses;
  const addresses = await lookup(target.name, target.server);
  if (addresses.length === 0) throw new EndpointError(`dns name ${target.name} has no address`);
  return [...new Set(addresses)]
    .sort()
    .map((address) => (address.includes(':') ? `[${address}]` : address) + `:${target.port}`);
}

export function describeTarget(target: SpiceDbTarget): string {
  return target.kind === 'static'
    ? target.addresses.join(', ')
    : `dns://${target.server ?? ''}/${target.name}:${target.port}`;
}
