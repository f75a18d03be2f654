import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../src/spicedb/loopback.js';
import { childPids, isAlive, runToExit, startService } from '../support/service-process.js';

/**
 * The service as operators run it: `npm start` as a real process (embedded SpiceDB, as the
 * README starts it), signals, and start failures that end in one line naming the variable.
 */
const MAIN = { node: ['--import', 'tsx', 'src/main.ts'] };

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** The one line a failed start leaves on stderr (npm adds nothing of its own to it). */
function authzLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '');
}

describe('npm start as a process', () => {
  it('SIGTERM to npm drains, exits, frees the port and leaves no child behind', async () => {
    const service = await startService({ npm: 'start' }, {});
    onTestFinished(async () => {
      // A failed assertion must not leave npm and the service running.
      await service.stop(2_000);
      for (const pid of grandchildren) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    let grandchildren: number[] = [];
    const npmPid = service.child.pid!;
    const [nodePid, ...others] = childPids(npmPid);
    // `npm start` runs node itself (exec), with no shell or tsx process between them.
    expect(others).toEqual([]);
    expect(nodePid).toBeDefined();
    // Whatever the service itself runs (none today) must end with it.
    grandchildren = [nodePid!, ...childPids(nodePid!)];
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    expect(isAlive(nodePid!)).toBe(false);
    expect(grandchildren.filter(isAlive)).toEqual([]);
    expect(service.output()).toContain('draining in-flight requests');
    expect(service.output()).toMatch(/"drained":true/);
    const port = Number(new URL(service.url).port);
    expect(await portIsFree(port)).toBe(true);
  }, 90_000);

  it('a port in use: one line naming PORT, exit 1', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)),
    );
    try {
      const result = await runToExit({ npm: 'start' }, { PORT: String(port) });
      expect(result.code).toBe(1);
      expect(authzLines(result.stderr)).toEqual([
        `authz: PORT ${port} is already in use on 127.0.0.1 (EADDRINUSE): stop the other process or set PORT`,
      ]);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  }, 90_000);

  it('a HOST that does not resolve or is not this machine: one line naming HOST, exit 1', async () => {
    const unknown = await runToExit(MAIN, { PORT: '0', HOST: 'no-such-host.invalid' });
    expect(unknown.code).toBe(1);
    expect(authzLines(unknown.stderr)).toEqual([
      'authz: HOST no-such-host.invalid does not resolve (ENOTFOUND): set HOST to an address or a known name',
    ]);
    // TEST-NET-1 (RFC 5737) is never an address of this machine.
    const foreign = await runToExit(MAIN, { PORT: '0', HOST: '192.0.2.1' });
    expect(foreign.code).toBe(1);
    expect(authzLines(foreign.stderr)).toHaveLength(1);
    expect(foreign.stderr).toMatch(/^authz: HOST 192\.0\.2\.1 is not an address of this machine/);
  }, 90_000);

  it('an unreachable SPICEDB_ENDPOINT: one line naming it and the cause, exit 1', async () => {
    const port = await freePort();
    const result = await runToExit(MAIN, {
      PORT: '0',
      SPICEDB_ENDPOINT: `127.0.0.1:${port}`,
      SPICEDB_TOKEN: 'unreachable',
      SPICEDB_INSECURE: 'true',
      SPICEDB_TIMEOUT_MS: '2000',
    });
    expect(result.code).toBe(1);
    const lines = authzLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^authz: SPICEDB_ENDPOINT 127\\.0\\.0\\.1:${port} `));
    expect(lines[0]).toContain('ECONNREFUSED');
  }, 90_000);

  it('a bad variable: one line naming it, exit 1', async () => {
    const result = await runToExit(MAIN, { PORT: 'eighty', CORS_ORIGINS: 'https://a.example/x' });
    expect(result.code).toBe(1);
    const lines = authzLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('PORT');
    expect(lines[0]).toContain('CORS_ORIGINS');
  }, 60_000);
});
