#!/usr/bin/env node
// `npx authz ...`: runs src/cli.ts through tsx (a dependency), in this process.
import process from 'node:process';
import { tsImport } from 'tsx/esm/api';

const cli = await tsImport('../src/cli.ts', import.meta.url);
process.exitCode = await cli.runCli(process.argv.slice(2));
