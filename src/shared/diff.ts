export interface Change {
  path: string;
  from: unknown;
  to: unknown;
}

/** The leaf values that differ between two JSON documents, by dotted path. */
export function diffJson(from: unknown, to: unknown, path = ''): Change[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObject(from) && isObject(to) && Array.isArray(from) === Array.isArray(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((key) => diffJson(from[key], to[key], path ? `${path}.${key}` : key));
  }
  return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ path, from, to }];
}
