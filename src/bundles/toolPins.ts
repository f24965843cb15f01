/**
 * Pinning at publish: each tool a bundle grants is looked up in the tool registry (what the
 * workers registered, src/db/toolRegistry.ts) and copied into the bundle, so the bundle's ID
 * covers its tools' schemas, and its runs check and call exactly those.
 */
import type { RegisteredTool } from '../db/toolRegistry';
import type { BundleContent } from '../shared/bundle';
import { httpToolSecretNames, type HttpToolDeclaration } from '../shared/httpTools';
import type { PinnedTool } from '../shared/toolSpec';
import { schemaHashOf } from './bundleId';

export type PinnedTools = { ok: true; pins: PinnedTool[] } | { ok: false; problems: string[] };

/**
 * The pins of `content.tools`, in order, or every problem at once: a name no worker registered, a
 * version not registered, a `schemaHash` not registered, or a name@version registered with several
 * schemas (by workers still live) and none chosen.
 */
export function pinRegisteredTools(content: Pick<BundleContent, 'tools'>, registered: readonly RegisteredTool[]): PinnedTools {
  const problems: string[] = [];
  const pins: PinnedTool[] = [];
  content.tools.forEach((tool, i) => {
    const picked = pickRegistration(registered.filter((r) => r.name === tool.name), tool);
    if ('problem' in picked) problems.push(`tools.${i}: ${picked.problem}`);
    else pins.push(picked.manifest);
  });
  return problems.length ? { ok: false, problems } : { ok: true, pins };
}

function pickRegistration(
  ofName: RegisteredTool[], wanted: BundleContent['tools'][number],
): RegisteredTool | { problem: string } {
  const { name, version, schemaHash } = wanted;
  if (!ofName.length) return { problem: `unknown tool "${name}": no worker has registered it (start a worker that has it, then publish)` };
  const ofVersion = ofName.filter((r) => r.version === version);
  if (!ofVersion.length) {
    const known = [...new Set(ofName.map((r) => r.version))].sort((a, b) => a - b).join(', ');
    return { problem: `${name} v${version} is not registered by any worker (registered versions: ${known})` };
  }
  if (schemaHash !== undefined) {
    const exact = ofVersion.find((r) => r.schemaHash === schemaHash);
    return exact ?? { problem: `${name} v${version} has no registered schema ${schemaHash} (registered: ${ofVersion.map((r) => r.schemaHash).join(', ')})` };
  }
  if (ofVersion.length === 1) return ofVersion[0]!;
  // A schema changed without a version bump: the one live workers have now, if only one is.
  const live = ofVersion.filter((r) => r.builds.some((b) => b.live));
  if (live.length === 1) return live[0]!;
  return {
    problem: `${name} v${version} is registered with ${ofVersion.length} schemas (${ofVersion.map((r) => r.schemaHash).join(', ')}); ` +
      'choose one with schemaHash (and bump the version when a schema changes)',
  };
}

/**
 * The pin of an HTTP tool the bundle declares: what the model sees (its description and argument
 * schema), and everything else that decides the request, hashed.
 */
export function pinHttpTool(decl: HttpToolDeclaration): PinnedTool {
  const { name, description, kind, args: parameters, method, url, headers, timeoutMs } = decl;
  return {
    name,
    version: 1,
    description,
    kind,
    parameters,
    schemaHash: schemaHashOf({ description, kind, parameters, method, url, headers }),
    source: { type: 'http' },
    secrets: httpToolSecretNames(decl),
    scope: ['network:allow-list'],
    approvalByDefault: kind !== 'read',
    ...(timeoutMs !== undefined && { timeoutMs }),
    // A declared endpoint has no sandbox of its own: in a sandbox run only its reads go out.
    sandbox: kind === 'read' ? 'live' : 'none',
  };
}
