import { Metadata } from '@grpc/grpc-js';
import type { CallPolicy } from './call-policy.js';
import type { SpiceDbApi } from './connection.js';
import { v1 } from './proto.js';

/** ReadSchema, WriteSchema, DiffSchema and ReflectSchema. */
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

  /** SpiceDB's own comparison of `schema` with the schema it holds (no diffs: the same). */
  async diff(schema: string): Promise<v1.ReflectionSchemaDiff[]> {
    const response = await this.policy.run('DiffSchema', 'read', (options) =>
      this.api.diffSchema(
        v1.DiffSchemaRequest.create({
          comparisonSchema: schema,
          consistency: v1.Consistency.create({
            requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
          }),
        }),
        new Metadata(),
        options,
      ),
    );
    return response.diffs;
  }

  /** The schema SpiceDB holds, as its reflection: definitions, relations, permissions, caveats. */
  async reflect(): Promise<v1.ReflectSchemaResponse> {
    return this.policy.run('ReflectSchema', 'read', (options) =>
      this.api.reflectSchema(
        v1.ReflectSchemaRequest.create({
          consistency: v1.Consistency.create({
            requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true },
          }),
        }),
        new Metadata(),
        options,
      ),
    );
  }
}
