/**
 * Seeded randomness for tests: the same seed gives the same numbers, so a run that failed can
 * be replayed exactly. A suite takes its seed from `suiteSeed`, which prints it.
 */

/** A small deterministic generator (mulberry32) of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The seed of a suite: TEST_SEED when it is set (to replay a run), else `fallback`. It is
 * printed with the suite's label, so every log says how to replay it.
 */
export function suiteSeed(label: string, fallback: number): number {
  const given = process.env.TEST_SEED;
  const seed = given === undefined || given === '' ? fallback : Number(given);
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be an integer, not ${given}`);
  console.log(`[${label}] seed ${seed} (TEST_SEED=${seed} replays this run)`);
  return seed;
}

/** One of `items`, drawn with `random`. */
export function pick<T>(items: readonly T[], random: () => number): T {
  if (items.length === 0) throw new Error('pick from no items');
  return items[Math.floor(random() * items.length)] as T;
}

/** A copy of `items` in an order drawn with `random` (Fisher–Yates). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
