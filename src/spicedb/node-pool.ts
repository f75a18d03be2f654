/**
 * The SpiceDB nodes of one service instance, each with its own gRPC client, and which of them
 * answer.
 *
 * Why a pool of per-node clients rather than one channel with grpc-js `round_robin`: the
 * balancer would spread calls, but it only leaves out a node whose connection breaks. A frozen
 * node (SIGSTOP, a stalled VM, a network partition that drops packets) keeps its TCP connection
 * READY, so `round_robin` keeps sending it every third call until keepalive notices, and SpiceDB
 * allows a client ping at most every 5 minutes. Here a node is left out as soon as a call to it
 * fails as unreachable, or a health probe (gRPC Health/Check, 500 ms deadline, every second)
 * goes unanswered, and let back in when a probe answers SERVING. A call past its deadline only
 * makes the node suspect (others are preferred) and probes it at once: a node whose calls are
 * slow because a peer it dispatches to is frozen still answers, and must not be left out. The
 * pool also knows which node served each call, which gives the per-node metrics, and makes the
 * call policy's retry go to another node: a retry simply picks again, and the node that just
 * failed is no longer a candidate.
 */
import { GrpcStatus, grpcStatusOf } from './errors.js';

/** A node's client, made by connection.ts; a fake in the unit tests. */
export interface NodeTransport<Client> {
  client(): Client;
  /** True when the node answers its health check SERVING within `timeoutMs`. */
  probe(timeoutMs: number): Promise<boolean>;
  close(): void;
}

export interface NodeStatus {
  address: string;
  up: boolean;
  calls: number;
  errors: number;
}

export interface PoolNode<Client> {
  readonly address: string;
  readonly transport: NodeTransport<Client>;
  up: boolean;
  /** A call to it passed its deadline; a probe is on its way to say whether it answers. */
  suspect: boolean;
  calls: number;
  errors: number;
  probing: boolean;
}

export interface NodePoolOptions {
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  /** Told of every finished call: which node, and whether it succeeded. */
  onNodeCall?: (address: string, ok: boolean) => void;
}

export class NodePool<Client> {
  private nodes: PoolNode<Client>[] = [];
  private turn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly probeIntervalMs: number;
  private readonly probeTimeoutMs: number;

  constructor(
    private readonly connect: (address: string) => NodeTransport<Client>,
    private readonly options: NodePoolOptions = {},
  ) {
    this.probeIntervalMs = options.probeIntervalMs ?? 1_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 500;
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Keeps the nodes still listed (and their counts), connects new ones, closes the others. */
  setAddresses(addresses: readonly string[]): void {
    const kept = new Map(this.nodes.map((node) => [node.address, node]));
    this.nodes = addresses.map(
      (address) =>
        kept.get(address) ?? {
          address,
          transport: this.connect(address),
          up: true,
          suspect: false,
          calls: 0,
          errors: 0,
          probing: false,
        },
    );
    const listed = new Set(addresses);
    for (const [address, node] of kept) if (!listed.has(address)) node.transport.close();
  }

  /**
   * The next node in turn that answers and is not suspect, else the next that answers, else the
   * next in turn anyway (its call then fails as unavailable, which is the truth, rather than the
   * pool refusing on stale knowledge).
   */
  pick(): PoolNode<Client> {
    const count = this.nodes.length;
    if (count === 0) throw new Error('no SpiceDB node address is known yet');
    const preferences: Array<(node: PoolNode<Client>) => boolean> = [
      (node) => node.up && !node.suspect,
      (node) => node.up,
      () => true,
    ];
    for (const acceptable of preferences) {
      for (let i = 0; i < count; i += 1) {
        const node = this.nodes[(this.turn + i) % count] as PoolNode<Client>;
        if (acceptable(node)) {
          this.turn = (this.turn + i + 1) % count;
          return node;
        }
      }
    }
    throw new Error('unreachable: the last preference accepts any node');
  }

  /** Records a finished call on `node`; `error` undefined means it succeeded. */
  finished(node: PoolNode<Client>, error?: unknown): void {
    node.calls += 1;
    if (error === undefined) {
      node.up = true;
      node.suspect = false;
      this.options.onNodeCall?.(node.address, true);
      return;
    }
    const code = grpcStatusOf(error)?.code;
    // A call the service itself cancelled says nothing about the node.
    if (code === GrpcStatus.CANCELLED) return;
    node.errors += 1;
    this.options.onNodeCall?.(node.address, false);
    if (code === GrpcStatus.UNAVAILABLE) node.up = false;
    if (code === GrpcStatus.DEADLINE_EXCEEDED) {
      node.suspect = true;
      void this.probe(node);
    }
  }

  statuses(): NodeStatus[] {
    return this.nodes.map(({ address, up, calls, errors }) => ({ address, up, calls, errors }));
  }

  anyUp(): boolean {
    return this.nodes.some((node) => node.up);
  }

  /** Probes every node now (the timer does this every probeIntervalMs once started). */
  async probeAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.probe(node)));
  }

  private async probe(node: PoolNode<Client>): Promise<void> {
    if (node.probing) return;
    node.probing = true;
    try {
      node.up = await node.transport.probe(this.probeTimeoutMs);
      node.suspect = false;
    } catch {
      node.up = false;
    } finally {
      node.probing = false;
    }
  }

  startProbing(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probeAll(), this.probeIntervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const node of this.nodes) node.transport.close();
    this.nodes = [];
  }
}
