/**
 * Builds a config's pipeline on a store: key rings, processors, destinations (tables planned,
 * then opened), the error output and counters. The long-running process (sluice-node.ts) and
 * the Lambda handlers (lambda/) assemble the same pipeline; only its input and buffering differ.
 */
import type { DestinationConfig, MetricsDestinationConfig, SluiceConfig } from '../config/config.ts';
import { createArchiveDestination } from '../destinations/archive/index.ts';
import { createMixpanelDestination } from '../destinations/mixpanel/index.ts';
import { createSegmentDestination } from '../destinations/segment/index.ts';
import { createWebhookDestination } from '../destinations/webhook/index.ts';
import { createMetricsDestination } from '../destinations/metrics/index.ts';
import { createStdoutDestination } from '../destinations/stdout/index.ts';
import { createTableDestination, type TableDestination } from '../destinations/table/index.ts';
import type { Destination } from '../destinations/destination.ts';
import type { KeyRing } from '../core/privacy/pseudonymizer.ts';
import { retryForever } from '../pipeline/retry.ts';
import { DeadLetters } from '../pipeline/dead-letters.ts';
import { ErrorOutput } from '../pipeline/error-output.ts';
import { Pipeline } from '../pipeline/pipeline.ts';
import { StreamCounters } from '../pipeline/stream-counters.ts';
import { Activity } from '../pipeline/activity.ts';
import type { BufferLimits } from '../pipeline/stream.ts';
import { createProcessors } from '../processors/registry.ts';
import type { Processor } from '../processors/processor.ts';
import type { SuppressionCheck } from '../processors/pseudonymize.ts';
import { QueryService } from '../query/query-service.ts';
import { pseudonymKeySources } from '../privacy/erasure.ts';
import { hashedFields } from '../config/policy-fields.ts';
import { SuppressionList } from '../privacy/suppression.ts';
import { epochChecked } from '../privacy/fence.ts';
import { withErasureFollowUp } from '../privacy/vendor-erasure.ts';
import type { Database } from '../store/database.ts';
import { loadKeyRings } from './key-rings.ts';
import type { Logger } from './logger.ts';
import type { LogRow } from '../log/sql-intake-log.ts';

export interface Assembled {
  pipeline: Pipeline;
  destinations: Destination[];
  counters: StreamCounters;
  /** Per-minute activity for the overview, when asked for (long-running processes). */
  activity: Activity | null;
  queries: QueryService;
  metricsConfig: MetricsDestinationConfig | undefined;
  /** Builds a stream's processors as its pipeline stream has them (Firehose transformation runs them alone). */
  processors: (stream: string) => Processor[];
  keyRing: (source: Parameters<typeof loadKeyRings>[0][number]) => KeyRing;
}

export async function assemblePipeline(
  config: SluiceConfig,
  db: Database,
  opts: {
    mode: 'dev' | 'start' | 'tool';
    dataDir: string;
    log: Logger;
    buffer: (stream: string) => BufferLimits;
    complete: (id: number) => void;
    /** Where a full stream's records wait (the SQL intake log); see PipelineParts.park. */
    park?: (row: LogRow) => Promise<void>;
    stdout?: (line: string) => void;
    /** Count activity for the overview (sluice dev/start and workers; not Lambda). */
    activity?: boolean;
  },
): Promise<Assembled> {
  const { log } = opts;
  const counters = new StreamCounters();
  const activity = opts.activity ? new Activity(db, (m) => log.warn(m)) : null;
  const metricsConfig = Object.values(config.streams ?? {}).find((s) => s.destination.type === 'metrics')?.destination as MetricsDestinationConfig | undefined;
  const queries = new QueryService(db, metricsConfig?.rollup_dimensions);
  const keyRing = await loadKeyRings(pseudonymKeySources(config), opts.mode, opts.dataDir, log);
  const destinations: Destination[] = [];

  // The suppression list is checked once per batch (held in memory while small); while the
  // store is down the batch waits (a failed lookup must not fail records that are fine).
  const suppression = new SuppressionList(db);
  const suppressed: SuppressionCheck = (pseudonyms) =>
    retryForever(
      () => suppression.check(pseudonyms),
      (cls, wait) => log.warn(`suppression list lookup failed (${cls}); retrying in ${wait} ms`),
    );
  const processors = (name: string): Processor[] => createProcessors(config.streams?.[name]?.processors ?? [], { keyRing, suppressed });
  const createDestination = (d: DestinationConfig, name: string): Destination => {
    switch (d.type) {
      case 'metrics':
        return createMetricsDestination(d, { db, onWritten: (pairs) => queries.invalidate(pairs), subjectDimensions: hashedFields(config.streams![name]) });
      case 'table':
        return createTableDestination(d, { db });
      // Outside the database: the erasure epoch is read before each write (privacy/fence.ts).
      case 'segment':
        return epochChecked(withErasureFollowUp(createSegmentDestination(d), db, name, config.streams![name]), db);
      case 'mixpanel':
        return epochChecked(withErasureFollowUp(createMixpanelDestination(d), db, name, config.streams![name]), db);
      case 'webhook':
        return epochChecked(withErasureFollowUp(createWebhookDestination(d), db, name, config.streams![name]), db);
      case 'archive':
        return epochChecked(createArchiveDestination(d, db), db);
      case 'stdout':
        return createStdoutDestination(opts.stdout);
    }
  };
  const pipeline = new Pipeline({
    config,
    buffer: opts.buffer,
    processors,
    destination: (name) => {
      const d = config.streams![name].destination;
      const made = createDestination(d, name);
      destinations.push(made);
      return made;
    },
    errors: new ErrorOutput(db),
    deadLetters: new DeadLetters(db),
    counters,
    activity: activity ?? undefined,
    complete: opts.complete,
    park: opts.park,
    warn: (m) => log.warn(m),
  });
  // Every table is checked before any is changed: an unsafe change refuses the start.
  const problems = (await Promise.all(destinations.map(async (d) => ('plan' in d ? (await (d as TableDestination).plan()).problems : [])))).flat();
  if (problems.length > 0) throw new Error(`the config's tables cannot be applied safely: ${problems.join('; ')}`);
  // A forwarder reads its secret when opened: a missing one stops the start, naming the stream.
  const names = Object.keys(config.streams ?? {});
  for (const [i, d] of destinations.entries()) {
    try {
      await d.open?.();
    } catch (e) {
      throw new Error(`stream ${names[i]}: the ${d.kind} destination cannot open: ${(e as Error).message}`, { cause: e });
    }
  }
  return { pipeline, destinations, counters, activity, queries, metricsConfig, keyRing, processors };
}
