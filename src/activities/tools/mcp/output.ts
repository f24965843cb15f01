/**
 * What the model hears of an MCP tool result: its structured content when it has one, else its text
 * contents joined, other content (images, audio, binary resources) described rather than inlined;
 * cut to a size, secrets masked.
 */
import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import { maskValues } from '../../../shared/redaction';

/** The most of a result's text (or structured content as JSON) kept for the model, in characters. */
export const MAX_OUTPUT_CHARS = 64 * 1024;

export interface McpCallOutcome {
  ok: boolean;
  output: unknown;
}

/**
 * `isError` → ok: false with `{ error: text }`; otherwise structured content, or `{ text }`. Secrets
 * are masked before anything is cut, so no part of one survives at the cut.
 */
export function outcomeOf(result: CallToolResult, secrets: Readonly<Record<string, string>>, maxChars = MAX_OUTPUT_CHARS): McpCallOutcome {
  const text = maskValues(result.content.map(describeContent).join('\n'), secrets) as string;
  if (result.isError) return { ok: false, output: { error: cut(text || 'the tool reported an error without text', maxChars).text } };
  if (result.structuredContent !== undefined) {
    const structured = maskValues(result.structuredContent, secrets);
    const json = JSON.stringify(structured);
    if (json.length <= maxChars) return { ok: true, output: structured };
    return { ok: true, output: { ...cut(json, maxChars), note: `structured content cut at ${maxChars} characters of its JSON` } };
  }
  const { text: kept, truncated } = cut(text, maxChars);
  return { ok: true, output: { text: kept, ...(truncated ? { truncated, note: `cut at ${maxChars} characters` } : {}) } };
}

function cut(text: string, maxChars: number): { text: string; truncated?: true } {
  return text.length <= maxChars ? { text } : { text: text.slice(0, maxChars), truncated: true };
}

function describeContent(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return block.text;
    case 'image':
    case 'audio':
      return `[${block.type} ${block.mimeType}, ${base64Bytes(block.data)} bytes, not shown]`;
    case 'resource_link':
      return `[resource link: ${block.name} ${block.uri}]`;
    case 'resource':
      return 'text' in block.resource
        ? `[resource ${block.resource.uri}]\n${block.resource.text}`
        : `[resource ${block.resource.uri}${block.resource.mimeType ? ` (${block.resource.mimeType})` : ''}, binary, not shown]`;
    default:
      return '[content of an unknown type, not shown]';
  }
}

/** The decoded size of base64 text, without decoding it. */
function base64Bytes(data: string): number {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.floor((data.length * 3) / 4) - padding;
}
