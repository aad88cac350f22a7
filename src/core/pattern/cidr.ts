/**
 * IPv4 and IPv6 addresses and CIDR blocks for the `cidr` operator. Addresses are numbers in
 * a bigint so both families share one comparison.
 */

export interface IpAddress {
  v6: boolean;
  value: bigint;
}

export interface IpRange {
  v6: boolean;
  lo: bigint;
  hi: bigint;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): bigint | null {
  const m = V4.exec(s);
  if (!m) return null;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i];
    if (part.length > 1 && part[0] === '0') return null;
    const n = Number(part);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let tail: bigint | null = null;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    tail = parseV4(s.slice(lastColon + 1));
    if (tail === null) return null;
    text = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const rest = halves.length === 2 ? (halves[1] === '' ? [] : halves[1].split(':')) : [];
  const groups = halves.length === 2 ? 8 - head.length - rest.length : 0;
  if (halves.length === 2 ? groups < 1 : head.length !== 8) return null;
  const all = [...head, ...Array<string>(groups).fill('0'), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== null) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an IPv4 or IPv6 address; null when the text is neither. */
export function parseIp(s: string): IpAddress | null {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === null ? null : { v6: true, value: v };
  }
  const v = parseV4(s);
  return v === null ? null : { v6: false, value: v };
}

/**
 * Parses a CIDR block (`10.0.0.0/24`, `2001:db8::/32`) into the range of addresses it covers,
 * or returns the reason it is invalid.
 *
 * @example parseCidr('10.0.0.0/24') // { v6: false, lo: 167772160n, hi: 167772415n }
 */
export function parseCidr(s: string): IpRange | string {
  const slash = s.indexOf('/');
  if (slash < 0 || slash !== s.lastIndexOf('/')) return `"${s}" is not a CIDR block: expected ADDRESS/PREFIX-LENGTH`;
  const ip = parseIp(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (!ip) return `"${s}" is not a CIDR block: "${s.slice(0, slash)}" is not an IPv4 or IPv6 address`;
  const width = ip.v6 ? 128 : 32;
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > width) {
    return `"${s}" is not a CIDR block: the prefix length must be 0 to ${width}`;
  }
  const hostBits = BigInt(width - Number(bitsText));
  const mask = (1n << hostBits) - 1n;
  return { v6: ip.v6, lo: ip.value & ~mask, hi: ip.value | mask };
}
