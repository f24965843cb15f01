/**
 * Which failures mean "a dependency is away" (503 with Retry-After) and which are bugs (500): the
 * codes PostgreSQL, node-postgres, Node's network layer and Temporal's gRPC client report. The
 * end-to-end tests (test/e2e/dependenciesAway.test.ts) produce some of them for real; this covers
 * the rest of the list.
 */
import { ServiceError } from '@temporalio/client';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { unavailableDependency } from '../../src/api/errors';

const pgError = (code: string) => Object.assign(new pg.DatabaseError('server said no', 0, 'error'), { code });
const networkError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
const grpcError = (code: number) => Object.assign(new Error(`${code} grpc`), { code, details: 'grpc', metadata: {} });

describe('unavailableDependency', () => {
  it.each([
    ['57P01 admin_shutdown', pgError('57P01')],
    ['57P02 crash_shutdown', pgError('57P02')],
    ['57P03 cannot_connect_now', pgError('57P03')],
    ['08006 connection_failure', pgError('08006')],
    ['08001 sqlclient_unable_to_establish_sqlconnection', pgError('08001')],
    ['53300 too_many_connections', pgError('53300')],
    ['ECONNREFUSED', networkError('ECONNREFUSED')],
    ['ECONNRESET', networkError('ECONNRESET')],
    ['ETIMEDOUT', networkError('ETIMEDOUT')],
    ['a connection lost mid-query', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
  ])('PostgreSQL is away on %s', (_name, err) => {
    expect(unavailableDependency(err)).toBe('PostgreSQL');
  });

  it.each([
    ['UNAVAILABLE', 14],
    ['DEADLINE_EXCEEDED', 4],
    ['RESOURCE_EXHAUSTED', 8],
  ])('Temporal is away on %s, also wrapped in the client\'s ServiceError', (_name, code) => {
    expect(unavailableDependency(grpcError(code))).toBe('Temporal');
    expect(unavailableDependency(new ServiceError('Failed to start Workflow', { cause: grpcError(code) }))).toBe('Temporal');
  });

  it.each([
    ['a syntax error', pgError('42601')],
    ['a unique violation', pgError('23505')],
    ['an invalid byte sequence (U+0000 that got through)', pgError('22021')],
    ['Temporal refusing a request (INVALID_ARGUMENT)', grpcError(3)],
    ['Temporal not finding a workflow (NOT_FOUND)', grpcError(5)],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['something that is not an Error', { code: 'ECONNREFUSED' }],
  ])('nothing is away on %s', (_name, err) => {
    expect(unavailableDependency(err)).toBeUndefined();
  });
});
