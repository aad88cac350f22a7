/**
 * A long-running process's guard against a database or NATS driver that rejects an internal
 * promise nobody can await when a connection drops (postgres.js, the server driver before
 * node-postgres, did so for a connection refused during a transaction's BEGIN). Sluice's own
 * calls retry on those errors; an orphaned rejection of the same network error is logged and the
 * process goes on. Any other unhandled rejection is a bug: logged, and the process exits 1 (its
 * supervisor restarts it; nothing acknowledged is lost, the intake log still holds it).
 */
import type { Logger } from './logger.ts';

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT']);

export function guardDriverFaults(log: Logger): void {
  process.on('unhandledRejection', (e) => {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && NETWORK.has(code)) {
      log.warn(`a connection failed outside any call (${code}); the calls that need it retry`);
      return;
    }
    log.error(`unhandled rejection: ${(e as Error)?.name ?? typeof e}`);
    process.exit(1);
  });
}
