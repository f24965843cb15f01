/** The shape of an agent bundle: prompt + tools + model + limits, released together under one ID. */
import { z } from 'zod';
import type { RunPolicy } from './domain';
import { toolCatalog, isToolName } from './tools';

export const bundleToolSchema = z
  .object({
    name: z.string().refine(isToolName, { error: (issue) => `unknown tool "${String(issue.input)}"` }),
    approval: z.enum(['always', 'never']).optional(),
  })
  .strict();

export const bundleFileSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes'),
    description: z.string().max(500).optional(),
    prompt: z.string().min(1).describe('Path of the system prompt file, relative to the bundle file.'),
    model: z
      .object({
        id: z.string().min(1),
        temperature: z.number().min(0).max(2).optional(),
        maxOutputTokens: z.number().int().positive().max(100_000).optional(),
      })
      .strict(),
    tools: z.array(bundleToolSchema).max(50),
    limits: z.object({ maxSteps: z.number().int().min(1).max(1000) }).strict(),
  })
  .strict();

export type BundleFile = z.infer<typeof bundleFileSchema>;

/** A bundle with its prompt text inlined: the content that is hashed into its ID. */
export interface Bundle extends Omit<BundleFile, 'prompt'> {
  id: string;
  systemPrompt: string;
}

export function runPolicyOf(bundle: Bundle, approvalTimeoutMs: number): RunPolicy {
  return {
    maxSteps: bundle.limits.maxSteps,
    approvalTimeoutMs,
    tools: bundle.tools.map((tool) => {
      const kind = toolCatalog[tool.name as keyof typeof toolCatalog].kind;
      // Reads never wait for a human; anything that changes the world does unless the bundle says otherwise.
      const requiresApproval = kind !== 'read' && tool.approval !== 'never';
      return { name: tool.name, kind, requiresApproval };
    }),
  };
}
