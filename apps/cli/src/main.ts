#!/usr/bin/env node
// The `commstrat` CLI: `commstrat --help`. Settings come from the environment (config.ts).
import { CommstratError, ConfigError, ValidationError } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import { DeadLetterStream, LaneStatistics, LaneWriter, QueueInspector, ReplicaHeartbeats } from '@commstrat/queue';
import { Command, Option } from 'commander';
import { loadCliConfig, requireMongoUrl, requireRedisUrl, type CliConfig } from './config.ts';
import { Connections } from './connections.ts';
import { inspect, renderInspect, SECTIONS, type Section } from './inspect.ts';
import type { AdminIo } from './admin-commands.ts';
import { keysCommands } from './keys-commands.ts';
import { providersCommands } from './providers-commands.ts';
import { checkRange, invalid, parseDuration, parseLimit, parseRate, parseRedriveStatus, parseTime } from './options.ts';
import { json, table } from './output.ts';
import { createProgress } from './progress.ts';
import { Redriver, redriveFromJournal, replayDeadLetters } from '@commstrat/redrive';
import { RunControl } from './run-control.ts';
import { strategiesCommands } from './strategies-commands.ts';
import { templatesCommands } from './templates-commands.ts';

interface ScopeOptions {
  tenant?: string;
  allTenants?: boolean;
  provider?: string;
  since?: string;
  until?: string;
  dryRun?: boolean;
  rate?: string;
  limit?: string;
  expiresIn?: string;
  json?: boolean;
}

const config = loadCliConfig(process.env);
const program = new Command('commstrat')
  .description('Operate commstrat: replay dead letters, re-drive journaled messages, inspect the queues; strategies, templates, API keys and providers through ingest.')
  .showHelpAfterError('(run with --help for usage)');

const replay = program.command('replay').description('Replay failed traffic.');
withScope(
  replay
    .command('dlq')
    .description(
      'Replay the dead-letter stream: each selected entry becomes a new message linked to its failed original ' +
        '(redrive_of / redriven_as), enqueued in its lane; the entry is then removed. Each original goes at most once, ' +
        'also over repeated or interrupted runs.',
    )
    .option('--error-code <code>', 'only entries whose error code is this (e.g. provider_unavailable)'),
).action(async (options: ScopeOptions & { errorCode?: string }) => {
  const now = Date.now();
  const scope = parseScope(options, now);
  await run(config, async (connections) => {
    const redis = await connections.redis();
    const journal = new Journal(await connections.mongo());
    const lanes = new LaneWriter(redis, { prefix: config.redisPrefix });
    const control = new RunControl(scope.dryRun ? undefined : scope.rate);
    const summary = await replayDeadLetters(
      { stream: new DeadLetterStream(redis, { prefix: config.redisPrefix }), journal, redriver: new Redriver(journal, lanes) },
      { ...scope, errorCode: options.errorCode },
      createProgress('replay dlq', process.stderr, { quiet: options.json === true }),
      control,
    ).finally(() => control.close());
    print(options.json === true, summary, () =>
      [
        table(
          ['entry', 'message', 'tenant', 'provider', 'code', 'dead-lettered', 'action', 'new message / why'],
          summary.items.map((item) => [item.entry_id, item.message_id, item.tenant, item.provider, item.code, item.dead_lettered_at, item.action, item.new_id ?? item.reason]),
        ),
        '',
        summaryLine(summary),
      ].join('\n'),
    );
    return summary.interrupted ? 130 : 0;
  });
});

withScope(
  program
    .command('redrive')
    .description(
      'Re-drive finished messages from the MongoDB journal: each selected message stays in its terminal state and a ' +
        'new message linked to it (redrive_of / redriven_as) is enqueued. Each original goes at most once, also over ' +
        'repeated or interrupted runs.',
    )
    .requiredOption('--status <status>', 'the terminal state to re-drive: failed, expired, rejected or cancelled')
    .option('--reason <text>', 'only messages whose final reason contains this text (case-insensitive)')
    .option('--error-code <code>', 'the same match as --reason: the journal keeps the reason text, in which a provider code appears')
    .option('--include-expired', 'with --status expired: re-drive expired messages (needs --expires-in)'),
).action(async (options: ScopeOptions & { status: string; reason?: string; errorCode?: string; includeExpired?: boolean }) => {
  const now = Date.now();
  const status = parseRedriveStatus(options.status);
  if (status === 'expired' && options.includeExpired !== true) {
    throw invalid('--status', 'expired messages are skipped unless --include-expired --expires-in <duration> gives them a new expiry');
  }
  if (options.includeExpired === true && options.expiresIn === undefined) {
    throw invalid('--include-expired', 'needs --expires-in <duration> (e.g. 1h): the new messages need an expiry in the future');
  }
  if (options.reason !== undefined && options.errorCode !== undefined) throw invalid('--error-code', 'give --reason or --error-code, not both');
  const scope = parseScope(options, now);
  await run(config, async (connections) => {
    const redis = await connections.redis();
    const journal = new Journal(await connections.mongo());
    const control = new RunControl(scope.dryRun ? undefined : scope.rate);
    const summary = await redriveFromJournal(
      { journal, redriver: new Redriver(journal, new LaneWriter(redis, { prefix: config.redisPrefix })) },
      { ...scope, status, reason: options.reason ?? options.errorCode },
      createProgress('redrive', process.stderr, { quiet: options.json === true }),
      control,
    ).finally(() => control.close());
    print(options.json === true, summary, () =>
      [
        table(
          ['message', 'tenant', 'status', 'provider', 'created', 'action', 'new message / why', 'reason'],
          summary.items.map((item) => [item.message_id, item.tenant, item.status, item.provider, item.created_at, item.action, item.new_id ?? item.skip_reason, item.reason]),
        ),
        '',
        summaryLine(summary),
      ].join('\n'),
    );
    return summary.interrupted ? 130 : 0;
  });
});

program
  .command('inspect')
  .description('Show lanes (depth, lag, pending per consumer), the delayed set, dead letters by code, token buckets, circuits and replicas.')
  .addArgument(new Command().createArgument('[section]', 'one section only').choices(SECTIONS))
  .option('--json', 'print JSON for scripts instead of tables')
  .action(async (section: Section | undefined, options: { json?: boolean }) => {
    await run(config, async (connections) => {
      const redis = await connections.redis();
      const lanes = new LaneStatistics(redis, { prefix: config.redisPrefix });
      const report = await inspect(
        { inspector: new QueueInspector(redis, lanes), heartbeats: new ReplicaHeartbeats(redis, { prefix: config.redisPrefix }) },
        section === undefined ? SECTIONS : [section],
      );
      print(options.json === true, report, () => renderInspect(report));
      return 0;
    });
  });

const adminIo: AdminIo = {
  config,
  prompt: { input: process.stdin, output: process.stderr },
  out: (text) => process.stdout.write(`${text}\n`),
};
strategiesCommands(program, adminIo);
keysCommands(program, adminIo);
providersCommands(program, adminIo);
templatesCommands(program, adminIo);

/** The options every replay / re-drive command shares. */
function withScope(command: Command): Command {
  return command
    .option('--tenant <id>', "only this tenant's messages (required unless --all-tenants)")
    .option('--all-tenants', 'every tenant (say it: a run is tenant-scoped by default)')
    .option('--provider <id>', 'only messages that failed at this provider: its id (sandbox-sms), or tenant/id (acme/sandbox-sms), which also scopes the run to that tenant')
    .option('--since <time>', 'from this time: ISO 8601 (UTC unless it names a zone) or a duration ago (2h)')
    .option('--until <time>', 'before this time, same forms as --since')
    .option('--dry-run', 'print what would go, and the counts; change nothing')
    .option('--rate <n>', 'at most n messages a second (default: as fast as the servers go)')
    .option('--limit <n>', 'at most n messages this run')
    .option('--expires-in <duration>', 'a new expiry for the new messages, from now (e.g. 1h)')
    .addOption(new Option('--json', 'print the summary as JSON for scripts (no progress lines on a pipe)'));
}

function parseScope(options: ScopeOptions, now: number) {
  // `--provider acme/sandbox-sms` (a provider key, as metrics and alerts name it) scopes the run to its tenant.
  const slash = options.provider?.indexOf('/') ?? -1;
  if (options.provider !== undefined && slash > 0) {
    const tenant = options.provider.slice(0, slash);
    if (options.tenant !== undefined && options.tenant !== tenant) {
      throw invalid('--provider', `names tenant "${tenant}", but --tenant is "${options.tenant}"`);
    }
    if (options.allTenants === true) throw invalid('--provider', `names tenant "${tenant}": drop --all-tenants, or give the provider id alone`);
    options = { ...options, tenant, provider: options.provider.slice(slash + 1) };
  }
  if (options.tenant === undefined && options.allTenants !== true) {
    throw invalid('--tenant', 'is required: name the tenant, or pass --all-tenants to act on every tenant');
  }
  if (options.tenant !== undefined && options.allTenants === true) throw invalid('--all-tenants', 'give --tenant or --all-tenants, not both');
  const since = options.since === undefined ? undefined : parseTime('--since', options.since, now);
  const until = options.until === undefined ? undefined : parseTime('--until', options.until, now);
  checkRange(since, until);
  return {
    tenant: options.tenant,
    provider: options.provider,
    since,
    until,
    dryRun: options.dryRun === true,
    rate: options.rate === undefined ? undefined : parseRate(options.rate),
    limit: options.limit === undefined ? undefined : parseLimit(options.limit),
    expiresAt: options.expiresIn === undefined ? undefined : new Date(now + parseDuration('--expires-in', options.expiresIn)),
  };
}

function summaryLine(summary: { dry_run: boolean; interrupted: boolean; selected: number; counts: Record<string, number>; skipped: Record<string, number> }): string {
  const counts = Object.entries(summary.counts).map(([name, count]) => `${name} ${count}`);
  const skipped = Object.entries(summary.skipped).map(([reason, count]) => `  skipped ${count}: ${reason}`);
  return [
    `${summary.dry_run ? 'dry run, nothing changed: ' : ''}selected ${summary.selected}; ${counts.join(', ') || 'nothing to do'}${summary.interrupted ? ' (interrupted: run again to go on)' : ''}`,
    ...skipped,
  ].join('\n');
}

function print(asJson: boolean, value: unknown, human: () => string): void {
  process.stdout.write(`${asJson ? json(value) : human()}\n`);
}

/** Runs a command with its connections; a CommstratError is one line naming what to do, not a stack. */
async function run(cliConfig: CliConfig, body: (connections: Connections) => Promise<number>): Promise<void> {
  const connections = new Connections({ redis: () => requireRedisUrl(cliConfig), mongo: () => requireMongoUrl(cliConfig) });
  try {
    process.exitCode = await body(connections);
  } finally {
    await connections.close();
  }
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommstratError)) throw error;
  // Every field at fault on its own line, so a bad file is fixed in one go (one problem of
  // a ValidationError, and all of a ConfigError's, are in its message already).
  const listed = error instanceof ConfigError || (error instanceof ValidationError && error.problems.length === 1) ? [] : error.problems;
  const problems = listed.map((problem) => `  ${problem.path || '/'}: ${problem.message}\n`);
  process.stderr.write(`commstrat: ${error.message} [${error.code}]\n${problems.join('')}`);
  // 2: the command line or settings are wrong; 1: a server or the data said no.
  process.exitCode = error.code === 'validation_failed' || error.code === 'invalid_config' ? 2 : 1;
}
