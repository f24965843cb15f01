/**
 * The HTTP contract of Bosun's REST API: every request schema and every answer's schema, one file
 * per resource. The API validates requests with these, the tests validate answers with them, and
 * the CLI speaks to the API through them. Pure: imports only zod and src/shared.
 */
export * from './admin';
export * from './agents';
export * from './alerts';
export * from './approvals';
export * from './bundles';
export * from './chatCompletions';
export * from './codec';
export * from './errors';
export * from './evals';
export * from './events';
export * from './health';
export * from './memory';
export * from './route';
export * from './runs';
export * from './threads';
export * from './tools';
export * from './usage';
export * from './ui';
export * from './shadows';
