/**
 * Reads the gate file and its suite from disk, listing every problem of both at once. Paths in the
 * gate file are relative to the working directory (CI runs at the repository root), as in
 * `suite: ./evals/golden_set.jsonl`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseGate, type EvalGate, type MetricName, type Threshold } from '../../shared/evals/gateFile';
import { canonicalJson, parseSuite, runInputOf, type GoldenCase } from '../../shared/evals/goldenCase';

export interface LoadedGate {
  file: string;
  gate: EvalGate;
  thresholds: Map<MetricName, Threshold>;
  /** The bundle to publish (a directory) or to use as is (an ID). */
  bundle: { dir: string } | { id: string };
  suitePath: string;
  cases: GoldenCase[];
  suiteHash: string;
}

/** Something is wrong with the gate file or its suite; `problems` lists all of it. */
export class GateFileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file} is not a valid eval gate:`);
  }
}

const bundleIdPattern = /^[a-z0-9][a-z0-9_-]*@[0-9a-f]{12}$/;

/** The suite's identity: cases with the same content hash alike, whatever the file's formatting. */
export function suiteHashOf(cases: GoldenCase[]): string {
  return createHash('sha256').update(canonicalJson(cases)).digest('hex').slice(0, 16);
}

/** A case's input hash: what `bosun golden add` refuses to add twice. */
export function inputHashOf(c: Pick<GoldenCase, 'input' | 'conversation'>): string {
  return createHash('sha256').update(runInputOf(c)).digest('hex').slice(0, 16);
}

/** Reads and checks a suite file; throws GateFileError with every problem. */
export function readSuite(file: string): GoldenCase[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GateFileError(file, [(err as Error).message]);
  }
  const parsed = parseSuite(text);
  if (!parsed.ok) throw new GateFileError(file, parsed.problems);
  return parsed.cases;
}

function resolveBundle(value: string, cwd: string, problems: string[]): LoadedGate['bundle'] | undefined {
  const dir = path.resolve(cwd, value);
  if (existsSync(dir) && statSync(dir).isDirectory()) {
    if (existsSync(path.join(dir, 'bundle.yaml'))) return { dir };
    problems.push(`eval_gate.bundle: ${value} has no bundle.yaml`);
    return undefined;
  }
  if (bundleIdPattern.test(value)) return { id: value };
  problems.push(`eval_gate.bundle: ${value} is neither a bundle directory nor a bundle ID such as support@0123456789ab`);
  return undefined;
}

/**
 * Loads a gate file; `overrides` replace its bundle or baseline (command-line flags). Throws
 * GateFileError listing every problem of the file and its suite.
 */
export function loadGate(file: string, cwd: string, overrides: { bundle?: string; baseline?: string } = {}): LoadedGate {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path.resolve(cwd, file), 'utf8'));
  } catch (err) {
    throw new GateFileError(file, [(err as Error).message]);
  }
  if (raw && typeof raw === 'object' && 'eval_gate' in raw && raw.eval_gate && typeof raw.eval_gate === 'object') {
    raw = { ...raw, eval_gate: { ...raw.eval_gate, ...(overrides.bundle && { bundle: overrides.bundle }), ...(overrides.baseline && { baseline: overrides.baseline }) } };
  }
  const parsed = parseGate(raw);
  if (!parsed.ok) throw new GateFileError(file, parsed.problems);
  const { gate, thresholds } = parsed;
  const problems: string[] = [];
  const bundle = resolveBundle(gate.bundle, cwd, problems);
  const suitePath = path.resolve(cwd, gate.suite);
  let cases: GoldenCase[] = [];
  try {
    cases = readSuite(suitePath);
  } catch (err) {
    if (!(err instanceof GateFileError)) throw err;
    problems.push(...err.problems.map((p) => `eval_gate.suite (${gate.suite}): ${p}`));
  }
  if (problems.length || !bundle) throw new GateFileError(file, problems);
  return { file, gate, thresholds, bundle, suitePath, cases, suiteHash: suiteHashOf(cases) };
}
