import type { Row, Target } from './report.js';

/** The targets of issue #16, from one run's rows. */
export function evaluateTargets(rows: Row[]): Target[] {
  const find = (scenario: string, c: number, mix: Row['mix'] = 'distinct') =>
    rows.find((r) => r.scenario === scenario && r.concurrency === c && r.mix === mix);
  const targets: Target[] = [];
  const plain = 'HTTP plain keep-alive client';
  const typed = 'HTTP typed client (createAuthzClient)';
  const direct = 'direct CheckPermission';
  for (const [c, limit] of [
    [1, 1.5],
    [64, 0.5],
  ] as const) {
    const row = find(plain, c);
    if (row?.serviceCpuMs != null) {
      targets.push({
        target: `service CPU per HTTP authz.check at c=${c} <= ${limit} ms`,
        holds: row.serviceCpuMs <= limit,
        figures: `${row.serviceCpuMs} ms (plain client, distinct subjects)`,
      });
    }
  }
  const direct1 = find(direct, 1);
  for (const [scenario, extra] of [
    [plain, 1],
    [typed, 1.5],
  ] as const) {
    const row = find(scenario, 1);
    if (row && direct1) {
      targets.push({
        target: `c=1 p50 ${scenario} <= direct + ${extra} ms`,
        holds: row.p50 <= direct1.p50 + extra,
        figures: `${row.p50} ms vs ${direct1.p50} ms (+${(row.p50 - direct1.p50).toFixed(2)} ms)`,
      });
    }
  }
  const direct64 = find(direct, 64);
  for (const scenario of [plain, typed]) {
    const row = find(scenario, 64);
    if (row && direct64) {
      const ratio = row.rate / direct64.rate;
      targets.push({
        target: `c=64 distinct subjects ${scenario} >= 1.5x direct one-call-per-check`,
        holds: ratio >= 1.5,
        figures: `${row.rate}/s vs ${direct64.rate}/s = ${ratio.toFixed(2)}x`,
      });
    }
  }
  const lookupDirect = rows.find((r) => r.scenario.startsWith('direct LookupResources'));
  const lookupHttp = rows.find((r) => r.scenario.startsWith('HTTP lookupResources'));
  if (lookupDirect && lookupHttp) {
    const ratio = lookupHttp.rate / lookupDirect.rate;
    targets.push({
      target: 'lookupResources over HTTP >= 0.9x the direct stream',
      holds: ratio >= 0.9,
      figures: `${lookupHttp.rate} vs ${lookupDirect.rate} results/s = ${ratio.toFixed(2)}x`,
    });
  }
  return targets;
}
