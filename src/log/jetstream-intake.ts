/**
 * The intake log on NATS JetStream, for scale-out: API nodes append each accepted request as one
 * message (the producer is answered only after JetStream stored it), and workers share one
 * durable pull consumer. A message is acknowledged only once everything derived from it is
 * delivered (or in an error output or the dead letters); one whose worker died is redelivered
 * to another after the ack wait, and destinations skip record ids they already have. The stream
 * uses work-queue retention: an acknowledged message is removed.
 *
 * Works with nats-server 2.9 (Debian's): no features of 2.10 or later.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { LogUnavailable } from '../pipeline/intake.ts';
import type { LogEntry } from '../pipeline/pipeline.ts';
import type { LogRow } from './sql-intake-log.ts';
import { loggedItems } from '../sources/event-envelope.ts';
import type { JetStreamConfig } from '../config/config.ts';

export interface JetStreamOptions {
  /** nats://host:port, comma-separated for a cluster. */
  servers: string;
  /** Stream name; default SLUICE_INTAKE. */
  stream?: string;
  /** Subject prefix; default sluice.intake for the default stream, else sluice.<stream in lower case>. */
  subject?: string;
  /** Durable consumer the workers share; default sluice-workers. */
  consumer?: string;
  /** Stream replicas (1 on a single server). */
  replicas?: number;
  /** Bytes the stream may hold before publishes are refused (the API answers 503). Default 1 GiB. */
  maxBytes?: number;
  /** A message unacknowledged this long is redelivered to another worker. Default 30. */
  ackWaitSeconds?: number;
  /** Messages delivered and not yet acknowledged, across all workers. Default 20,000. */
  maxAckPending?: number;
  /** Workers own the consumer's settings and update them; API nodes only create it when missing. */
  role?: 'api' | 'worker';
}

const NS = 1_000_000;
export const JETSTREAM_DEFAULTS = { stream: 'SLUICE_INTAKE', subject: 'sluice.intake', consumer: 'sluice-workers', replicas: 1, maxBytes: 1024 ** 3, ackWaitSeconds: 30, maxAckPending: 20_000, role: 'worker' as 'api' | 'worker' };

/**
 * The options of a config's `jetstream` section, flags (`--nats-stream`, `--ack-wait`) over it.
 *
 * @example jetStreamOptions('nats://127.0.0.1:4222', { replicas: 3 }, { stream: 'EU' })
 */
export function jetStreamOptions(servers: string, config: JetStreamConfig = {}, flags: { stream?: string; ackWaitSeconds?: number } = {}): JetStreamOptions & { maxLagMessages?: number } {
  return {
    servers,
    stream: flags.stream ?? config.stream,
    replicas: config.replicas,
    maxBytes: config.max_bytes,
    ackWaitSeconds: flags.ackWaitSeconds ?? config.ack_wait_seconds,
    maxAckPending: config.max_ack_pending,
    maxLagMessages: config.max_lag_messages,
  };
}

/** What a message carries: one intake log row and when it was accepted. */
interface Message extends LogRow {
  received_at: string;
}

/**
 * @example
 *   const log = await JetStreamIntake.open({ servers: 'nats://127.0.0.1:4222' });
 *   const seq = await log.append({ tenant: 'acme', kind: 'events', stream: null, count: 1, payload: '{…}' });
 */
export class JetStreamIntake {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly opts: Required<Omit<JetStreamOptions, 'servers'>> & { servers: string },
  ) {}

  /** Connects (retrying for ever in the background once connected) and creates or checks the stream and consumer. */
  static async open(options: JetStreamOptions): Promise<JetStreamIntake> {
    // Options left undefined (a flag not given) keep their defaults.
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as JetStreamOptions;
    const stream = given.stream ?? JETSTREAM_DEFAULTS.stream;
    // API nodes and workers naming the same stream agree on its subjects without another flag.
    const subject = given.subject ?? (stream === JETSTREAM_DEFAULTS.stream ? JETSTREAM_DEFAULTS.subject : `sluice.${stream.toLowerCase()}`);
    const opts = { ...JETSTREAM_DEFAULTS, ...given, stream, subject } as typeof JETSTREAM_DEFAULTS & { servers: string };
    const nc = await connect({ servers: opts.servers.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 500, name: 'sluice' }).catch((e: Error) => {
      throw new Error(`NATS at ${opts.servers}: ${e.message}`);
    });
    try {
      const jsm = await jetstreamManager(nc);
      const want = {
        name: opts.stream,
        subjects: [`${opts.subject}.>`],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: opts.replicas,
        max_bytes: opts.maxBytes,
      };
      try {
        const info = await jsm.streams.info(opts.stream);
        if (info.config.retention !== RetentionPolicy.Workqueue) throw new Error(`JetStream stream ${opts.stream} exists with ${info.config.retention} retention; Sluice needs workqueue: use another --nats-stream`);
        await jsm.streams.update(opts.stream, { ...info.config, max_bytes: opts.maxBytes, num_replicas: opts.replicas });
      } catch (e) {
        if (!/stream not found/i.test((e as Error).message)) throw e;
        await jsm.streams.add(want);
      }
      const consumer = {
        durable_name: opts.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: opts.ackWaitSeconds * 1000 * NS,
        max_ack_pending: opts.maxAckPending,
      };
      try {
        await jsm.consumers.info(opts.stream, opts.consumer);
        if (opts.role === 'worker') await jsm.consumers.update(opts.stream, opts.consumer, { ack_wait: consumer.ack_wait, max_ack_pending: consumer.max_ack_pending });
      } catch (e) {
        if (!/consumer not found/i.test((e as Error).message)) throw e;
        await jsm.consumers.add(opts.stream, consumer);
      }
      const log = new JetStreamIntake(nc, jetstream(nc), jsm, opts);
      log.watch();
      return log;
    } catch (e) {
      await nc.close().catch(() => {});
      throw e;
    }
  }

  /** Appends one request's entry; resolves with its sequence once JetStream stored it. Throws LogUnavailable when it cannot. */
  async append(row: LogRow): Promise<number> {
    const message: Message = { ...row, received_at: row.received_at ?? new Date().toISOString() };
    try {
      const ack = await this.js.publish(`${this.opts.subject}.${row.kind}`, JSON.stringify(message), { timeout: 5000 });
      return ack.seq;
    } catch (e) {
      throw new LogUnavailable(`JetStream did not store the entry: ${(e as Error).name}`);
    }
  }

  private up = true;

  /** Whether the connection to NATS is up now. */
  connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  private watch(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') this.up = false;
        else if (s.type === 'reconnect') this.up = true;
      }
    })().catch(() => {});
  }

  /** Messages not yet delivered to a worker, and delivered but not acknowledged: the intake lag. */
  async lag(): Promise<{ pending: number; unacknowledged: number }> {
    const info = await this.jsm.consumers.info(this.opts.stream, this.opts.consumer);
    return { pending: info.num_pending, unacknowledged: info.num_ack_pending };
  }

  /**
   * Takes messages while `room()` says there is room, hands each to `accept` as a log entry, and
   * acknowledges it when `ack(seq)` is called. In-flight messages are kept alive (`working`)
   * so a slow delivery is not redelivered elsewhere. Runs until `stop()`.
   */
  consume(accept: (entry: LogEntry) => void, room: () => number, poison: (seq: number, why: string) => void = () => {}): { ack: (seq: number) => void; stop: () => Promise<void> } {
    const inflight = new Map<number, JsMsg>();
    let running = true;
    const keepAlive = setInterval(() => {
      for (const m of inflight.values()) m.working();
    }, Math.max(1000, (this.opts.ackWaitSeconds * 1000) / 3));
    keepAlive.unref();
    const loop = (async () => {
      const consumer = await this.js.consumers.get(this.opts.stream, this.opts.consumer);
      while (running) {
        const want = Math.min(200, room());
        if (want <= 0) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        try {
          const batch = await consumer.fetch({ max_messages: want, expires: 1000 });
          for await (const m of batch) {
            let entry: LogEntry;
            try {
              const msg = m.json<Message>();
              entry = {
                id: m.seq,
                tenant: msg.tenant,
                kind: msg.kind,
                stream: msg.stream,
                items: loggedItems(msg.kind, msg.payload, msg.tenant, msg.received_at),
                bytes: msg.payload.length,
                receivedAt: msg.received_at,
              };
              if (typeof entry.tenant !== 'string' || !['events', 'records', 'redrive'].includes(entry.kind) || typeof entry.receivedAt !== 'string') throw new Error('not an intake entry');
            } catch (e) {
              // Not written by a Sluice API node (or damaged): redelivering it would never help,
              // and it must not hold up the messages behind it. JetStream stops redelivering it.
              // No reason text: nats-server 2.9 ignores a `+TERM <reason>` and redelivers (tested).
              m.term();
              poison(m.seq, (e as Error).name);
              continue;
            }
            inflight.set(m.seq, m);
            accept(entry);
          }
        } catch {
          if (running) await new Promise((r) => setTimeout(r, 500)); // NATS away: the client reconnects
        }
      }
    })();
    return {
      ack: (seq) => {
        const m = inflight.get(seq);
        inflight.delete(seq);
        m?.ack();
      },
      stop: async () => {
        running = false;
        await loop.catch(() => {});
        clearInterval(keepAlive);
      },
    };
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
