/** `stdout`: each record as one JSON line on standard output, for development. */
import type { Destination } from '../destination.ts';

export function createStdoutDestination(write: (line: string) => void = (l) => process.stdout.write(l)): Destination {
  return {
    kind: 'stdout',
    async write(records) {
      write(records.map((r) => JSON.stringify(r.value) + '\n').join(''));
      return [];
    },
  };
}
