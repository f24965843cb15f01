/**
 * The Temporal connection as @temporalio/envconfig reads it (src/config.ts temporalConfigOf): a
 * plain address, Temporal Cloud's API key, mTLS from files, and a profile of a TOML file as the
 * `temporal` CLI writes it, with variables overriding the profile.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-envconfig-'));
const file = (name: string, text: string) => {
  const full = path.join(dir, name);
  writeFileSync(full, text);
  return full;
};
/** No HOME: no developer's own ~/.config/temporalio/temporal.toml leaks into the test. */
const temporalOf = (env: Record<string, string>) => loadConfig(env).temporal;

describe('the Temporal connection (envconfig)', () => {
  it('takes a plain address and namespace', () => {
    expect(temporalOf({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_NAMESPACE: 'agents' })).toEqual({
      address: 'temporal.internal:7233', namespace: 'agents', taskQueue: 'bosun-agents', connection: { address: 'temporal.internal:7233' },
    });
  });

  it('turns TLS on with an API key (Temporal Cloud)', () => {
    const temporal = temporalOf({
      TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'acme.a1b2c', TEMPORAL_API_KEY: 'cloud-key',
    });
    expect(temporal.namespace).toBe('acme.a1b2c');
    expect(temporal.connection).toEqual({ address: 'us-east-1.aws.api.temporal.io:7233', apiKey: 'cloud-key', tls: true });
  });

  it('reads mTLS client certificate, key and server CA from files', () => {
    const cert = file('client.pem', 'CLIENT CERT');
    const key = file('client.key', 'CLIENT KEY');
    const ca = file('ca.pem', 'SERVER CA');
    const { connection } = temporalOf({
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
    });
    const tls = connection.tls as { clientCertPair?: { crt: Buffer; key: Buffer }; serverRootCACertificate?: Buffer; serverNameOverride?: string };
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe('CLIENT CERT');
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe('CLIENT KEY');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe('SERVER CA');
    expect(tls.serverNameOverride).toBe('temporal.example');
  });

  it('loads a profile from a TOML file, variables overriding it', () => {
    const toml = file('temporal.toml', [
      '[profile.default]', 'address = "localhost:7233"', '',
      '[profile.prod]', 'address = "prod.tmprl.cloud:7233"', 'namespace = "prod.ns"', 'api_key = "prod-key"', '',
      '[profile.prod.grpc_meta]', 'x-team = "agents"',
    ].join('\n'));
    const prod = temporalOf({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    expect(prod).toMatchObject({ address: 'prod.tmprl.cloud:7233', namespace: 'prod.ns' });
    expect(prod.connection).toEqual({ address: 'prod.tmprl.cloud:7233', apiKey: 'prod-key', tls: true, metadata: { 'x-team': 'agents' } });
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: toml }).address).toBe('localhost:7233');
    expect(temporalOf({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod', TEMPORAL_NAMESPACE: 'override' }).namespace).toBe('override');
  });

  it('names a missing profile', () => {
    const toml = file('other.toml', '[profile.default]\naddress = "a:1"\n');
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'missing' })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'missing' })).toThrow(/Profile 'missing' not found/);
  });
});

describe('trace export (OTEL_*)', () => {
  it('is off without an endpoint, and with OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED', () => {
    expect(loadConfig({}).tracing.export).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing.export).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing.export).toBeUndefined();
  });

  it('follows the OTLP rules for endpoints, protocol, headers and resource', () => {
    const generic = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-tenant=bosun',
      OTEL_SERVICE_NAME: 'bosun-prod-worker',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
    }).tracing.export;
    expect(generic).toEqual({
      url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf', headers: { authorization: 'Bearer abc', 'x-tenant': 'bosun' },
      timeoutMs: undefined, serviceName: 'bosun-prod-worker', resourceAttributes: { 'deployment.environment': 'prod' },
    });
    const specific = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://cloud.example/api/public/otel/v1/traces',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2000',
    }).tracing.export;
    expect(specific).toMatchObject({ url: 'https://cloud.example/api/public/otel/v1/traces', protocol: 'http/json', timeoutMs: 2000 });
    expect(loadConfig({ OTEL_TRACES_EXPORTER: 'otlp' }).tracing.export?.url).toBe('http://localhost:4318/v1/traces');
  });

  it('refuses grpc and malformed headers without echoing a value', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/grpc is not supported/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'sekrit-without-equals' }))
      .toThrow(/OTEL_EXPORTER_OTLP_HEADERS: entry 1 must look like key=value/);
    try {
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_HEADERS: 'sekrit-without-equals' });
    } catch (err) {
      expect((err as Error).message).not.toContain('sekrit');
    }
  });

  it('reads content capture and the semconv opt-in', () => {
    expect(loadConfig({
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true', OTEL_SEMCONV_STABILITY_OPT_IN: 'http,gen_ai_latest_experimental',
    }).tracing).toMatchObject({ captureMessageContent: true, genaiLatestOnly: true });
  });
});
