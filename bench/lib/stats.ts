/** A figure over repeated rounds: its median, p90, and the spread between rounds. */
export interface Stats {
  median: number;
  p90: number;
  /** The lowest and highest per-round value: how much the rounds disagree. */
  min: number;
  max: number;
  rounds: number;
  /** Samples behind the median and p90 (more than `rounds` when a round holds many calls). */
  samples: number;
}

/** Nearest-rank quantile of an ascending array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** The middle value, or the mean of the two middle values. */
export function median(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** One value per round: median and p90 over the rounds, spread is their range. */
export function overRounds(values: readonly number[]): Stats {
  const sorted = ascending(values);
  return {
    median: median(sorted),
    p90: quantile(sorted, 0.9),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    rounds: sorted.length,
    samples: sorted.length,
  };
}

/**
 * Many samples per round (latencies of single calls): median and p90 over every sample,
 * spread is the range of the rounds' own medians.
 */
export function overSamples(rounds: readonly (readonly number[])[]): Stats {
  const all = ascending(rounds.flat());
  const roundMedians = ascending(rounds.map((r) => median(ascending(r))));
  return {
    median: median(all),
    p90: quantile(all, 0.9),
    min: roundMedians[0] ?? Number.NaN,
    max: roundMedians[roundMedians.length - 1] ?? Number.NaN,
    rounds: rounds.length,
    samples: all.length,
  };
}
