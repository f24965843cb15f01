/** `bosun keys …`: a tenant admin's API keys. */
import { roles } from '../contract';
import { UsageError, answer, type Schemas } from './apiClient';
import { show, stringOption, type Command, type CommandContext, type OptionValues } from './command';
import { table, timestamp } from './format';

type CreateKeyRequest = Schemas['CreateKeyRequest'];

function requestedRoles(options: OptionValues): CreateKeyRequest['roles'] {
  const raw = stringOption(options, 'roles') ?? 'runner';
  const given = raw.split(',').map((r) => r.trim());
  const unknown = given.find((r) => !(roles as readonly string[]).includes(r));
  if (unknown !== undefined) throw new UsageError(`--roles takes ${roles.join(', ')}; not "${unknown}"`);
  return given as CreateKeyRequest['roles'];
}

async function createKey(ctx: CommandContext, _args: string[], options: OptionValues) {
  const body: CreateKeyRequest = { roles: requestedRoles(options), name: stringOption(options, 'name') };
  const created = await answer(ctx.api.POST('/v1/keys', { body }));
  // The one time the key is shown: this output is meant for the person who creates it.
  show(ctx, created, (k) => `created ${k.keyId} (${k.roles.join(', ')})\n${k.key}\nStore it now: Bosun keeps only its hash.`);
}

async function listKeys(ctx: CommandContext) {
  const { keys } = await answer(ctx.api.GET('/v1/keys'));
  show(ctx, { keys }, () =>
    table(
      ['KEY', 'NAME', 'ROLES', 'CREATED', 'REVOKED'],
      keys.map((k) => [k.keyId, k.name ?? '', k.roles.join(','), timestamp(k.createdAt), timestamp(k.revokedAt)]),
    ),
  );
}

async function revokeKey(ctx: CommandContext, [keyId]: string[]) {
  await ctx.api.DELETE('/v1/keys/{keyId}', { params: { path: { keyId: keyId! } } });
  show(ctx, { keyId, revoked: true }, () => `revoked ${keyId}; it stops working on its next request`);
}

export const keyCommands: Command[] = [
  {
    words: ['keys', 'create'],
    args: [],
    summary: 'create an API key for your tenant; it is printed once',
    options: {
      roles: { type: 'string', value: '<r1,r2>', description: `comma-separated: ${roles.join(', ')} (default runner)` },
      name: { type: 'string', value: '<name>', description: 'a label to recognise it by' },
    },
    run: createKey,
  },
  { words: ['keys', 'list'], args: [], summary: "list your tenant's keys (never their secrets)", run: listKeys },
  { words: ['keys', 'revoke'], args: ['<keyId>'], summary: 'revoke a key at once', run: revokeKey },
];
