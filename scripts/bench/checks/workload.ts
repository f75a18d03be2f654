import {
  clusterId,
  duplicatedWorkload,
  orgId,
  projectId,
  random,
  userId,
  volumeId,
  type BenchCheck,
  type PlatformShape,
} from '../platform.js';

const PROJECT_PERMISSIONS = ['read_settings', 'write_settings', 'use_endpoints', 'manage_roles'];
const CLUSTER_PERMISSIONS = ['view', 'ssh', 'scale'];
const ORG_PERMISSIONS = ['read_billing', 'write_billing', 'read_members'];
/** Checks asked per user: enough users for every block, few enough that they share little. */
export const CHECKS_PER_USER = 24;

/** Every check a user could be asked about: their organization's objects and the next one's. */
function candidatesFor(shape: PlatformShape, o: number, subject: string): BenchCheck[] {
  const checks: BenchCheck[] = [];
  const next = (o + 1) % shape.organizations;
  for (let p = 0; p < shape.projectsPerOrg; p += 1) {
    for (const permission of PROJECT_PERMISSIONS) {
      checks.push({ resource: `project:${projectId(o, p)}`, permission, subject });
    }
    for (let c = 0; c < shape.clustersPerProject; c += 1) {
      for (const permission of CLUSTER_PERMISSIONS) {
        checks.push({ resource: `cluster:${clusterId(o, p, c)}`, permission, subject });
      }
    }
    for (let v = 0; v < shape.volumesPerProject; v += 1) {
      checks.push({ resource: `volume:${volumeId(o, p, v)}`, permission: 'read_write', subject });
    }
    checks.push({
      resource: `project:${projectId(next, p)}`,
      permission: 'read_settings',
      subject,
    });
  }
  for (const permission of ORG_PERMISSIONS) {
    checks.push({ resource: `organization:${orgId(o)}`, permission, subject });
  }
  return checks;
}

/**
 * Hands out checks no earlier block asked: each block gets users of its own (from a seeded
 * shuffle of every user, so each block's users hold the roles in about the platform's mix),
 * and asks each of them CHECKS_PER_USER distinct checks, round robin across its users so
 * concurrent checks have distinct subjects.
 */
export class DisjointWorkload {
  private readonly users: Array<[number, number]> = [];
  private cursor = 0;

  constructor(private readonly shape: PlatformShape) {
    for (let o = 0; o < shape.organizations; o += 1) {
      for (let u = 0; u < shape.usersPerOrg; u += 1) this.users.push([o, u]);
    }
    const next = random(1234);
    for (let i = this.users.length - 1; i > 0; i -= 1) {
      const j = Math.floor(next() * (i + 1));
      [this.users[i], this.users[j]] = [
        this.users[j] as [number, number],
        this.users[i] as [number, number],
      ];
    }
  }

  get usersLeft(): number {
    return this.users.length - this.cursor;
  }

  /** `count` distinct checks, of users no other block had. */
  distinct(count: number): BenchCheck[] {
    const userCount = Math.ceil(count / CHECKS_PER_USER);
    if (userCount > this.usersLeft) {
      throw new Error(`the platform has too few users left for ${count} checks: raise the size`);
    }
    const lists = this.users.slice(this.cursor, this.cursor + userCount).map(([o, u], index) => {
      const all = candidatesFor(this.shape, o, `user:${userId(o, u)}`);
      const next = random(this.cursor + index + 1);
      for (let i = all.length - 1; i > 0; i -= 1) {
        const j = Math.floor(next() * (i + 1));
        [all[i], all[j]] = [all[j] as BenchCheck, all[i] as BenchCheck];
      }
      return all.slice(0, CHECKS_PER_USER);
    });
    this.cursor += userCount;
    const checks: BenchCheck[] = [];
    for (let round = 0; checks.length < count; round += 1) {
      for (const list of lists) {
        const check = list[round];
        if (check !== undefined && checks.length < count) checks.push(check);
      }
    }
    return checks;
  }

  /** `count` checks where every check is asked twice, its twin within `spread` positions. */
  duplicated(count: number, spread: number): BenchCheck[] {
    return duplicatedWorkload(this.distinct(Math.ceil(count / 2)), spread).slice(0, count);
  }
}
