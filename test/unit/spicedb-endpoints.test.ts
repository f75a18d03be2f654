import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../src/config/env.js';
import { parseEndpoint, resolveTarget, type Lookup } from '../../src/spicedb/endpoints.js';

describe('SPICEDB_ENDPOINT', () => {
  it('reads one node, a list, and a dns name with or without its DNS server', () => {
    expect(parseEndpoint('spicedb:50051')).toEqual({
      kind: 'static',
      addresses: ['spicedb:50051'],
    });
    expect(parseEndpoint(' a:1, 10.0.0.2:50051 ,[::1]:50051')).toEqual({
      kind: 'static',
      addresses: ['a:1', '10.0.0.2:50051', '[::1]:50051'],
    });
    expect(parseEndpoint('dns:///spicedb.default.svc:50051')).toEqual({
      kind: 'dns',
      name: 'spicedb.default.svc',
      port: 50051,
    });
    expect(parseEndpoint('dns://127.0.0.1:5353/nodes.test:50051')).toEqual({
      kind: 'dns',
      name: 'nodes.test',
      port: 50051,
      server: '127.0.0.1:5353',
    });
  });

  it.each([
    ['no-port-here', 'is not host:port'],
    ['http://spicedb:50051', 'is not host:port'],
    ['a:1,,b:2', 'empty entry'],
    ['a:1,a:1', 'same node twice'],
    ['a:70000', 'is not host:port'],
    ['dns:///spicedb', 'is not host:port'],
    ['dns://bad server/x:1', 'is not host:port'],
  ])('refuses %s, saying why', (value, reason) => {
    expect(() => parseEndpoint(value)).toThrow(reason);
    expect(() => loadEnv({ SPICEDB_ENDPOINT: value, SPICEDB_TOKEN: 'k' })).toThrow(
      /SPICEDB_ENDPOINT: must be host:port, a comma-separated list of them, or dns:\/\/\/name:port/,
    );
  });

  it('accepts a list and a dns name at start', () => {
    const list = loadEnv({ SPICEDB_ENDPOINT: 'a:50051,b:50051', SPICEDB_TOKEN: 'k' });
    expect(list.SPICEDB_ENDPOINT).toBe('a:50051,b:50051');
    const dns = loadEnv({ SPICEDB_ENDPOINT: 'dns:///spicedb:50051', SPICEDB_TOKEN: 'k' });
    expect(dns.SPICEDB_ENDPOINT).toBe('dns:///spicedb:50051');
  });

  it('resolves a dns name to every address, IPv6 bracketed, in a stable order', async () => {
    const asked: Array<[string, string | undefined]> = [];
    const lookup: Lookup = (name, server) => {
      asked.push([name, server]);
      return Promise.resolve(['10.0.0.3', '10.0.0.1', 'fd00::2', '10.0.0.1']);
    };
    const target = parseEndpoint('dns://10.0.0.53/spicedb:50051');
    expect(await resolveTarget(target, lookup)).toEqual([
      '10.0.0.1:50051',
      '10.0.0.3:50051',
      '[fd00::2]:50051',
    ]);
    expect(asked).toEqual([['spicedb', '10.0.0.53']]);
    await expect(resolveTarget(target, () => Promise.resolve([]))).rejects.toThrow(
      'has no address',
    );
  });
});
