/**
 * The import graph of src, read with TypeScript's own parser, and the architecture's rules over it
 * (test/unit/dependencyRules.test.ts). Paths are relative to src, without extension: `workflows/agentRun`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface SourceImport {
  /** The importing file, e.g. `api/runsRouter`. */
  from: string;
  /** A project file (`db/runs`) for relative specifiers, else the package name (`pg`, `node:fs`). */
  to: string;
  /** `import type` / `export type`: erased at compile time, so never reaches a bundle or a runtime. */
  typeOnly: boolean;
  project: boolean;
}

/** Every `.ts` file under `dir`, relative and without extension. */
function sourceFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full, base);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path.relative(base, full).slice(0, -3)] : [];
  });
}

function resolveProjectFile(srcDir: string, fromFile: string, specifier: string): string {
  const target = path.relative(srcDir, path.resolve(srcDir, path.dirname(fromFile), specifier));
  const isDir = (() => {
    try {
      return statSync(path.join(srcDir, target)).isDirectory();
    } catch {
      return false;
    }
  })();
  return isDir ? path.join(target, 'index') : target;
}

/** The imports and re-exports of every file of src. */
export function importsOf(srcDir: string): SourceImport[] {
  return sourceFiles(srcDir).flatMap((file) => {
    const text = readFileSync(path.join(srcDir, `${file}.ts`), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
    const found: SourceImport[] = [];
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      let typeOnly = false;
      if (ts.isImportDeclaration(statement)) {
        specifier = statement.moduleSpecifier;
        const clause = statement.importClause;
        typeOnly = !!clause && (clause.isTypeOnly || (!clause.name && !!clause.namedBindings
          && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0
          && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
        specifier = statement.moduleSpecifier;
        typeOnly = statement.isTypeOnly;
      }
      if (!specifier || !ts.isStringLiteral(specifier)) continue;
      const spec = specifier.text;
      const project = spec.startsWith('.');
      found.push({ from: file, to: project ? resolveProjectFile(srcDir, file, spec) : spec, typeOnly, project });
    }
    return found;
  });
}

const folderOf = (file: string) => file.split('/')[0] ?? file;

interface Rule {
  name: string;
  applies: (i: SourceImport) => boolean;
  allowed: (i: SourceImport) => boolean;
}

/** Libraries that do no I/O and run inside Temporal's workflow sandbox; Node built-ins are not among them. */
const pureLibraries = new Set(['zod', '@temporalio/common', '@cfworker/json-schema', 'safe-regex2']);

/**
 * workflows/tracingSpans is loaded into a traced workflow's sandbox by the interceptor module
 * workflows/tracing: it builds Temporal's OpenTelemetry workflow interceptors and uses their tracer
 * through the OTel API (pure: no I/O; spans leave through a sink); no other workflow code may.
 */
const isWorkflowTracingApi = (i: SourceImport) => i.from === path.join('workflows', 'tracingSpans')
  && ['@opentelemetry/api', '@temporalio/interceptors-opentelemetry-v2/lib/workflow-interceptors'].includes(i.to);

export const rules: Rule[] = [
  {
    name: 'workflows import only @temporalio/workflow, shared code and `import type` of activities',
    applies: (i) => folderOf(i.from) === 'workflows',
    allowed: (i) => i.project
      ? ['workflows', 'shared'].includes(folderOf(i.to)) || (i.typeOnly && i.to === path.join('activities', 'index'))
      : i.to === '@temporalio/workflow' || pureLibraries.has(i.to) || isWorkflowTracingApi(i),
  },
  {
    // Process-level observability: it reads no table itself.
    name: 'telemetry (process-level observability I/O) imports only telemetry, config and shared',
    applies: (i) => folderOf(i.from) === 'telemetry' && i.project,
    allowed: (i) => ['telemetry', 'shared', 'config'].includes(folderOf(i.to)),
  },
  {
    name: 'telemetry is imported only by the API, the worker, activities, the dev tools and the process entry (runMain)',
    applies: (i) => i.project && folderOf(i.to) === 'telemetry' && folderOf(i.from) !== 'telemetry',
    allowed: (i) => ['api', 'worker', 'activities', 'dev'].includes(folderOf(i.from)) || i.from === 'runMain',
  },
  {
    name: 'shared imports only shared and pure libraries',
    applies: (i) => folderOf(i.from) === 'shared',
    allowed: (i) => (i.project ? folderOf(i.to) === 'shared' : pureLibraries.has(i.to)),
  },
  {
    name: 'contract imports only contract, shared and zod (and contract/openapi the OpenAPI generator)',
    applies: (i) => folderOf(i.from) === 'contract',
    allowed: (i) => (i.project
      ? ['contract', 'shared'].includes(folderOf(i.to))
      : i.to === 'zod' || (i.from === path.join('contract', 'openapi') && i.to === '@asteasolutions/zod-to-openapi')),
  },
  {
    name: 'the CLI imports only the contract (not its OpenAPI generator: the CLI uses the generated types), shared and its own files',
    applies: (i) => folderOf(i.from) === 'cli' && i.project,
    allowed: (i) => ['cli', 'contract', 'shared'].includes(folderOf(i.to)) && i.to !== path.join('contract', 'openapi'),
  },
  {
    name: 'db imports only db and shared',
    applies: (i) => folderOf(i.from) === 'db' && i.project,
    allowed: (i) => ['db', 'shared'].includes(folderOf(i.to)),
  },
  {
    name: 'the API reaches I/O through db, bundles and temporal, never through activities',
    applies: (i) => folderOf(i.from) === 'api' && i.project,
    allowed: (i) => folderOf(i.to) !== 'activities',
  },
  {
    name: 'memory (long-term memory over the store) imports only memory, db and shared',
    applies: (i) => folderOf(i.from) === 'memory' && i.project,
    allowed: (i) => ['memory', 'db', 'shared'].includes(folderOf(i.to)),
  },
  {
    name: 'config is a leaf: it imports only shared',
    applies: (i) => i.from === 'config' && i.project,
    allowed: (i) => folderOf(i.to) === 'shared',
  },
];

/** Each import that breaks a rule, as `from → to: rule`. */
export function ruleViolations(imports: SourceImport[]): string[] {
  return imports.flatMap((i) =>
    rules.filter((r) => r.applies(i) && !r.allowed(i)).map((r) => `${i.from} → ${i.to}: ${r.name}`),
  );
}

/** Each import cycle between project files (type-only imports included: they tie the modules' meaning together). */
export function cyclesOf(imports: SourceImport[]): string[] {
  const edges = new Map<string, Set<string>>();
  for (const i of imports.filter((x) => x.project)) {
    if (!edges.has(i.from)) edges.set(i.from, new Set());
    edges.get(i.from)!.add(i.to);
  }
  // Tarjan's strongly connected components: every component of more than one file is a cycle.
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const visit = (node: string) => {
    indexOf.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indexOf.get(next)!));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || edges.get(node)?.has(node)) cycles.push(component.sort().join(' ⇄ '));
    }
  };
  for (const node of edges.keys()) if (!indexOf.has(node)) visit(node);
  return cycles.sort();
}

/** SQL statements in the files of the given folders of src: `file: first words`. */
export function sqlIn(srcDir: string, folders: string[]): string[] {
  const sql = /\b(SELECT\s+[\w*"(]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS\s*\()/;
  return folders.flatMap((folder) =>
    sourceFiles(path.join(srcDir, folder)).flatMap((file) => {
      const text = readFileSync(path.join(srcDir, folder, `${file}.ts`), 'utf8');
      const match = sql.exec(text);
      return match ? [`${folder}/${file}: ${match[0]}`] : [];
    }),
  );
}
