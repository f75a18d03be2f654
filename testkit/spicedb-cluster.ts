/**
 * A SpiceDB cluster on loopback: `nodes` `spicedb serve` processes on one PostgreSQL database
 * with dispatch clustering between them, optionally a streaming replica of that PostgreSQL given
 * to every node as its read replica.
 *
 * Every node serves dispatch on 127.0.0.N:D (one port D, an address per node: Linux routes all of
 * 127/8 to loopback) and dispatches to `dns://<dns server>/<name>:D`, a name that resolves to all
 * of them (testkit/dns-server.ts), which is how SpiceDB is told its peers outside Kubernetes.
 * gRPC for callers is on 127.0.0.1, a free port per node.
 */
import { createServer } from 'node:net';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { CHANNEL_OPTIONS } from '../src/spicedb/connection.js';
import { freePort } from '../src/spicedb/loopback.js';
import { startDnsServer, type DnsServer } from './dns-server.js';
import { migrateSpiceDb } from './postgres.js';
import { requireSpiceDbBinary } from './spicedb-binary.js';
import type { PostgresProcess } from './postgres-process.js';
import { startSpiceDb, type SpiceDbProcess } from './spicedb-process.js';

export interface SpiceDbClusterOptions {
  nodes: number;
  /** The PostgreSQL (and its replica, if any) the cluster keeps its data in; not stopped here. */
  postgres: PostgresProcess;
  replica?: PostgresProcess;
  /** A new database of this name is created on `postgres` (and reaches the replica by streaming). */
  database: string;
  binary?: string;
  schema?: string;
  quantization?: string;
  metrics?: boolean;
  /**
   * What an orchestrator does (Kubernetes readiness and endpoints, which the SpiceDB operator's
   * kuberesolver dispatch follows): a node that stops answering its health check is taken out of
   * the dispatch name, and put back once it answers. SpiceDB re-resolves the name when a dispatch
   * connection is recycled, so connections are recycled every few seconds here.
   */
  dispatchFollowsHealth?: boolean;
}

export interface SpiceDbCluster {
  nodes: SpiceDbProcess[];
  /** SPICEDB_ENDPOINT for the service: every node's gRPC address, comma-separated. */
  endpoint: string;
  token: string;
  /** The name the nodes dispatch to, and its DNS server. */
  dispatchTarget: string;
  dns: DnsServer;
  /** The nodes (by index) the dispatch name lists now. */
  dispatchMembers(): number[];
  /** When (performance.now()) the dispatch name changed, and to which nodes. */
  membershipChanges: Array<{ at: number; members: number[] }>;
  stop(): Promise<void>;
}

/** True when the node answers gRPC Health/Check SERVING within `timeoutMs`. */
function healthy(client: Client, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/grpc.health.v1.Health/Check',
      () => Buffer.alloc(0),
      (bytes: Buffer) => bytes,
      {},
      new Metadata(),
      { deadline: new Date(Date.now() + timeoutMs) },
      (error, response) => resolve(!error && response?.equals(Buffer.from([8, 1])) === true),
    );
  });
}

/** Small pools: three nodes with default pools (20 + 20 + 10 each) would fill max_connections. */
const POOLS = [
  '--datastore-conn-pool-read-max-open=8',
  '--datastore-conn-pool-read-min-open=1',
  '--datastore-conn-pool-write-max-open=4',
  '--datastore-conn-pool-write-min-open=1',
  '--datastore-read-replica-conn-pool-read-max-open=8',
  '--datastore-read-replica-conn-pool-read-min-open=1',
];

/** Waits until the replica has replayed everything the primary has written so far. */
async function caughtUp(primary: PostgresProcess, replica: PostgresProcess | undefined) {
  if (replica === undefined) return;
  const lsn = primary.psql('postgres', 'select pg_current_wal_lsn()').trim();
  await replica.waitFor('postgres', `select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`, 60_000);
}

function bindable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port free on every node's dispatch address. */
async function dispatchPort(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const port = await freePort(hosts[0]);
    const free = await Promise.all(hosts.map((host) => bindable(host, port)));
    if (free.every(Boolean)) return port;
  }
  throw new Error(`no port free on all of ${hosts.join(', ')}`);
}

export async function startSpiceDbCluster(options: SpiceDbClusterOptions): Promise<SpiceDbCluster> {
  const hosts = Array.from({ length: options.nodes }, (_, i) => `127.0.0.${i + 1}`);
  const token = `cluster-${randomBytes(8).toString('hex')}`;
  const { postgres, replica, database } = options;
  const binary = options.binary ?? requireSpiceDbBinary();
  postgres.psql('postgres', `CREATE DATABASE ${database}`);
  migrateSpiceDb(binary, postgres.connUri(database));
  // SpiceDB reads the replica's tables from the start: let them reach it first.
  await caughtUp(postgres, replica);
  const dns = await startDnsServer();
  const name = `dispatch-${randomBytes(3).toString('hex')}.cluster.test`;
  dns.set(name, hosts);
  const port = await dispatchPort(hosts);
  const dispatchTarget = `dns://${dns.address}/${name}:${port}`;
  const nodes: SpiceDbProcess[] = [];
  let members = hosts.map((_, i) => i);
  const membershipChanges: Array<{ at: number; members: number[] }> = [];
  let follow: NodeJS.Timeout | undefined;
  const probes: Client[] = [];
  const stop = async () => {
    if (follow) clearInterval(follow);
    for (const probe of probes) probe.close();
    await Promise.all(nodes.map((node) => node.stop()));
    await dns.close();
  };
  try {
    for (const host of hosts) {
      nodes.push(
        await startSpiceDb({
          datastore: 'postgres',
          binary,
          datastoreUri: options.postgres.connUri(options.database),
          ...(options.replica
            ? { readReplicaUris: [options.replica.connUri(options.database)] }
            : {}),
          token,
          ...(options.quantization ? { quantization: options.quantization } : {}),
          dispatch: { listen: `${host}:${port}`, upstream: dispatchTarget },
          ...(options.metrics ? { metrics: true } : {}),
          args: options.dispatchFollowsHealth
            ? [...POOLS, '--dispatch-cluster-max-conn-age=3s']
            : POOLS,
        }),
      );
    }
    if (options.schema !== undefined) {
      const connection = nodes[0]?.connect();
      try {
        await connection?.client?.promises.writeSchema({ schema: options.schema });
      } finally {
        connection?.close();
      }
      await caughtUp(postgres, replica);
    }
    if (options.dispatchFollowsHealth) {
      for (const node of nodes)
        probes.push(new Client(node.endpoint, credentials.createInsecure(), CHANNEL_OPTIONS));
      let probing = false;
      follow = setInterval(() => {
        if (probing) return;
        probing = true;
        void Promise.all(probes.map((probe) => healthy(probe, 400)))
          .then((answers) => {
            const up = answers.flatMap((ok, i) => (ok ? [i] : []));
            // An empty name would stop all dispatch: keep the last members instead.
            if (up.length > 0 && up.join() !== members.join()) {
              members = up;
              membershipChanges.push({ at: performance.now(), members: up });
              dns.set(
                name,
                up.map((i) => hosts[i] as string),
              );
            }
          })
          .finally(() => {
            probing = false;
          });
      }, 500);
      follow.unref();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    dispatchMembers: () => [...members],
    membershipChanges,
    nodes,
    endpoint: nodes.map((node) => node.endpoint).join(','),
    token,
    dispatchTarget,
    dns,
    stop,
  };
}
