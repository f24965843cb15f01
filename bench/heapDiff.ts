/**
 * Compares two V8 heap snapshots (.heapsnapshot JSON, as `--heapsnapshot-signal` or
 * `v8.writeHeapSnapshot` write them): retained self size and object count per node type and
 * constructor name, largest growth first. For finding what a parked run leaves in the worker.
 */
import { readFileSync } from 'node:fs';

export interface HeapSummary {
  totalBytes: number;
  /** "type name" → bytes and count. */
  groups: Map<string, { bytes: number; count: number }>;
}

/** Self sizes of a snapshot's nodes grouped by type and name (strings grouped by type only). */
export function summarizeHeap(file: string): HeapSummary {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'));
  const fields: string[] = snapshot.snapshot.meta.node_fields;
  const types: string[] = snapshot.snapshot.meta.node_types[0];
  const nodes: number[] = snapshot.nodes;
  const strings: string[] = snapshot.strings;
  const stride = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const groups = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + typeAt]!]!;
    const name = ['string', 'concatenated string', 'sliced string', 'number', 'code', 'hidden', 'array'].includes(type)
      ? '' : strings[nodes[i + nameAt]!]!.slice(0, 60);
    const key = `${type} ${name}`;
    const size = nodes[i + sizeAt]!;
    totalBytes += size;
    const group = groups.get(key) ?? { bytes: 0, count: 0 };
    group.bytes += size;
    group.count += 1;
    groups.set(key, group);
  }
  return { totalBytes, groups };
}

/** Lines for the `top` groups that grew most from `before` to `after`. */
export function heapGrowth(before: HeapSummary, after: HeapSummary, top = 25): string[] {
  const rows = [...after.groups].map(([key, a]) => {
    const b = before.groups.get(key) ?? { bytes: 0, count: 0 };
    return { key, bytes: a.bytes - b.bytes, count: a.count - b.count };
  }).sort((x, y) => y.bytes - x.bytes).slice(0, top);
  return [
    `heap ${(before.totalBytes / 2 ** 20).toFixed(1)} MB → ${(after.totalBytes / 2 ** 20).toFixed(1)} MB`,
    ...rows.map((r) => `${(r.bytes / 1024).toFixed(0).padStart(9)} kB ${String(r.count).padStart(8)} objects  ${r.key}`),
  ];
}
