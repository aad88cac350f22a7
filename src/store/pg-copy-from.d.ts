// The COPY FROM part of pg-copy-streams, imported alone: its index also loads COPY TO and COPY
// BOTH, which Sluice does not use (a Lambda bundle stays under its size budget).
declare module 'pg-copy-streams/copy-from.js' {
  import type { CopyStreamQuery } from 'pg-copy-streams';
  const copyFrom: (text: string) => CopyStreamQuery;
  export default copyFrom;
}
