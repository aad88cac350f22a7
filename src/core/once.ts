/**
 * A value made on first use and shared by every later caller (a Lambda container's store, a
 * client); when making it fails, the failure is forgotten so the next call tries again.
 */
export interface Once<T> {
  (): Promise<T>;
  /** The value being made or made; null before the first call or after a failed making. */
  readonly pending: Promise<T> | null;
}

/**
 * @example
 *   const client = onceUntilFailed(async () => connect());
 *   await client(); // connects; later calls share it
 */
export function onceUntilFailed<T>(make: () => Promise<T>): Once<T> {
  let made: Promise<T> | null = null;
  const get = () =>
    (made ??= make().catch((e: unknown) => {
      made = null;
      throw e;
    }));
  return Object.defineProperty(get, 'pending', { get: () => made }) as Once<T>;
}
