/** What the HTTP app needs from the running process. */
import type { KeyStore } from '../auth/api-keys.ts';
import type { SluiceConfig } from '../config/config.ts';
import type { Intake } from '../pipeline/intake.ts';
import type { StreamCounters } from '../pipeline/stream-counters.ts';
import type { QueryService } from '../query/query-service.ts';
import type { Eraser } from '../privacy/erasure.ts';
import type { DeadLetters } from '../pipeline/dead-letters.ts';
import type { Dashboards } from '../dashboards/dashboards.ts';
import type { EmbedKeys } from '../embed/embed-tokens.ts';
import type { Activity } from '../pipeline/activity.ts';
import type { IntakeStatus } from '../web/overview-route.ts';
import type { WebAssets } from '../web/assets.ts';
import type { Logger } from '../runtime/logger.ts';

export interface AppContext {
  config: SluiceConfig;
  keys: KeyStore;
  intake: Intake;
  queries: QueryService;
  counters: StreamCounters;
  eraser: Eraser;
  deadLetters: DeadLetters;
  dashboards: Dashboards;
  embed: EmbedKeys;
  /** Per-minute activity for the overview (long-running processes). */
  activity?: Activity | null;
  /** The intake's backlog, for the overview. */
  intakeStatus?: () => Promise<IntakeStatus>;
  /** The web UI and the embed scripts (served by sluice dev/start, not by Lambda). */
  web?: WebAssets;
  /** Whether the store and the intake log answer now (GET /readyz). */
  ready?: () => Promise<{ store: boolean; log: boolean }>;
  /** The process log: one line per request (level by status) with its request id. */
  log?: Logger;
  /** Whether the process is shutting down (intake answers 503). */
  stopping: () => boolean;
}
