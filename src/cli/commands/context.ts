import type { Command } from 'commander';
import {
  checkContextName,
  checkUrl,
  configPath,
  readConfig,
  writeConfig,
  type ServiceContext,
} from '../contexts.js';
import { EXIT, UsageError } from '../io.js';
import type { Runner } from './runner.js';

interface SetFlags {
  url?: string;
  token?: string;
  devUser?: string;
  backend?: boolean;
  use?: boolean;
}

export function registerContextCommands(program: Command, run: Runner): void {
  const context = program
    .command('context')
    .summary('named services and callers: set, use, list, delete')
    .addHelpText(
      'after',
      `
Contexts are kept in $XDG_CONFIG_HOME/authz/config.json (default ~/.config/authz/config.json),
readable by you only (mode 0600). --url/--token and AUTHZ_URL/AUTHZ_TOKEN override them.

Examples:
  authz context set prod --url https://authz.internal --token "$JWT"
  authz context set local --url http://127.0.0.1:3000 --dev-user support --backend
  authz context use prod
  authz context list`,
    );

  context
    .command('set')
    .summary('create or update a context (the first one becomes current)')
    .argument('<name>', 'a name of letters, digits, _ . -')
    .option('--url <url>', 'the service, e.g. https://authz.internal')
    .option('--token <jwt>', "the caller's token")
    .option('--dev-user <id>', 'DEVELOPMENT: mint a fresh token for this user at each command')
    .option('--backend', 'with --dev-user: the backend scope (authz:check)')
    .option('--use', 'make it the current context')
    .action(
      run(async (io, name: string, flags: SetFlags) => {
        checkContextName(name);
        if (flags.token !== undefined && flags.devUser !== undefined) {
          throw new UsageError('--token and --dev-user exclude each other');
        }
        if (flags.backend && flags.devUser === undefined) {
          throw new UsageError('--backend needs --dev-user');
        }
        const config = await readConfig(io.env);
        const previous = config.contexts[name];
        const url = flags.url ?? previous?.url;
        if (url === undefined) throw new UsageError(`context "${name}" is new: give it --url`);
        const kept: Omit<ServiceContext, 'url'> = {
          ...(previous?.token !== undefined ? { token: previous.token } : {}),
          ...(previous?.devUser !== undefined ? { devUser: previous.devUser } : {}),
          ...(previous?.backend ? { backend: true } : {}),
        };
        const credentials: Omit<ServiceContext, 'url'> =
          flags.token !== undefined
            ? { token: flags.token }
            : flags.devUser !== undefined
              ? { devUser: flags.devUser, ...(flags.backend ? { backend: true } : {}) }
              : kept;
        config.contexts[name] = { url: checkUrl(url), ...credentials };
        if (flags.use || config.current === undefined) config.current = name;
        const file = await writeConfig(io.env, config);
        io.stdout(
          `context "${name}" saved in ${file}${config.current === name ? ' (current)' : ''}`,
        );
        return EXIT.ok;
      }),
    );

  context
    .command('use')
    .summary('make NAME the current context')
    .argument('<name>')
    .action(
      run(async (io, name: string) => {
        const config = await readConfig(io.env);
        if (config.contexts[name] === undefined) {
          throw new UsageError(
            `no context named "${name}": create it with \`authz context set ${name} --url URL --token JWT\``,
          );
        }
        config.current = name;
        await writeConfig(io.env, config);
        io.stdout(`current context: ${name} (${config.contexts[name].url})`);
        return EXIT.ok;
      }),
    );

  context
    .command('list')
    .summary('the saved contexts; * marks the current one (tokens are not shown)')
    .option('--json', 'one JSON document on stdout')
    .action(
      run(async (io, flags: { json?: boolean }) => {
        const config = await readConfig(io.env);
        const rows = Object.entries(config.contexts).map(([name, c]) => ({
          name,
          url: c.url,
          current: name === config.current,
          caller: c.devUser
            ? `dev token for ${c.devUser}${c.backend ? ' (backend)' : ''}`
            : c.token
              ? 'token'
              : 'no token',
        }));
        if (flags.json) {
          io.stdout(JSON.stringify({ file: configPath(io.env), contexts: rows }));
        } else if (rows.length === 0) {
          io.stdout('no contexts yet: `authz context set NAME --url URL --token JWT`');
        } else {
          for (const row of rows) {
            io.stdout(`${row.current ? '*' : ' '} ${row.name}  ${row.url}  ${row.caller}`);
          }
        }
        return EXIT.ok;
      }),
    );

  context
    .command('delete')
    .summary('forget a context')
    .argument('<name>')
    .action(
      run(async (io, name: string) => {
        const config = await readConfig(io.env);
        if (config.contexts[name] === undefined) {
          throw new UsageError(`no context named "${name}"`);
        }
        delete config.contexts[name];
        if (config.current === name) delete config.current;
        await writeConfig(io.env, config);
        io.stdout(`context "${name}" deleted`);
        return EXIT.ok;
      }),
    );
}
