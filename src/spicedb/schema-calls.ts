import { Metadata } from '@grpc/grpc-js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import { v1 } from './proto.js';

/** ReadSchema and WriteSchema. */
export class SchemaCalls {
  constructor(
    private readonly api: SpiceDbApi,
    private readonly policy: CallPolicy,
  ) {}

  /** One attempt within `timeoutMs` (the default deadline unless given): it also probes readiness. */
  async read(timeoutMs?: number): Promise<string> {
    const response = await this.policy.run(
      'ReadSchema',
      'read',
      (options) => this.api.readSchema(v1.ReadSchemaRequest.create({}), new Metadata(), options),
      { maxAttempts: 1, ...(timeoutMs !== undefined ? { timeoutMs } : {}) },
    );
    return response.schemaText;
  }

  async write(schema: string): Promise<void> {
    await this.policy.run('WriteSchema', 'write', (options) =>
      this.api.writeSchema(v1.WriteSchemaRequest.create({ schema }), new Metadata(), options),
    );
  }
}
