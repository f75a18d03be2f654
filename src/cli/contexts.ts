import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { UsageError } from './io.js';

/**
 * Named services the CLI can talk to (`authz context set NAME --url --token`), like kubectl's
 * or zed's contexts. Kept in $XDG_CONFIG_HOME/authz/config.json (default ~/.config), readable
 * by its owner only: it holds tokens.
 */
export interface ServiceContext {
  url: string;
  /** A caller JWT. */
  token?: string;
  /**
   * DEVELOPMENT: mint a fresh token for this user id from the service's POST /dev/token before
   * each command (so it never expires), with the backend scope when `backend` is set.
   */
  devUser?: string;
  backend?: boolean;
}

export interface CliConfig {
  current?: string;
  contexts: Record<string, ServiceContext>;
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';

export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME?.trim() || path.join(env.HOME?.trim() || homedir(), '.config');
  return path.join(base, 'authz', 'config.json');
}

export async function readConfig(env: NodeJS.ProcessEnv): Promise<CliConfig> {
  const file = configPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CliConfig>;
    return {
      ...(typeof parsed.current === 'string' ? { current: parsed.current } : {}),
      contexts: parsed.contexts && typeof parsed.contexts === 'object' ? parsed.contexts : {},
    };
  } catch {
    throw new UsageError(`${file} is not valid JSON: fix or delete it`);
  }
}

/** Written whole to a temporary file (mode 0600) and renamed over the old one. */
export async function writeConfig(env: NodeJS.ProcessEnv, config: CliConfig): Promise<string> {
  const file = configPath(env);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
  return file;
}

export const CONTEXT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkContextName(name: string): void {
  if (!CONTEXT_NAME.test(name)) {
    throw new UsageError(`context name "${name}" must match ${CONTEXT_NAME.source}`);
  }
}

export function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url "${url}" is not a URL (e.g. ${DEFAULT_URL})`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) {
    throw new UsageError(`--url "${url}" must be http:// or https://`);
  }
  return url.replace(/\/+$/, '');
}

export interface ServiceTarget {
  url: string;
  token?: string | undefined;
  devUser?: string | undefined;
  backend?: boolean | undefined;
  /** Where the target came from, for error messages. */
  source: string;
}

/**
 * Which service and caller a command uses: --url/--token, then AUTHZ_URL/AUTHZ_TOKEN, then
 * --context or AUTHZ_CONTEXT, then the current context, then the local default.
 */
export async function resolveTarget(
  flags: { url?: string | undefined; token?: string | undefined; context?: string | undefined },
  env: NodeJS.ProcessEnv,
): Promise<ServiceTarget> {
  const config = await readConfig(env);
  const named = flags.context ?? (env.AUTHZ_CONTEXT?.trim() || undefined);
  if (named !== undefined && config.contexts[named] === undefined) {
    const known = Object.keys(config.contexts);
    throw new UsageError(
      `no context named "${named}"${known.length ? ` (known: ${known.join(', ')})` : ''}: create it with \`authz context set ${named} --url URL --token JWT\``,
    );
  }
  const contextName = named ?? config.current;
  const context = contextName !== undefined ? config.contexts[contextName] : undefined;
  const url = flags.url ?? (env.AUTHZ_URL?.trim() || undefined) ?? context?.url ?? DEFAULT_URL;
  const token = flags.token ?? (env.AUTHZ_TOKEN?.trim() || undefined) ?? context?.token;
  const fromContext = context !== undefined && token === context.token;
  return {
    url: checkUrl(url),
    token,
    ...(fromContext && context.devUser !== undefined
      ? { devUser: context.devUser, backend: context.backend }
      : {}),
    source:
      contextName !== undefined && context !== undefined ? `context "${contextName}"` : 'defaults',
  };
}
