/** API process: wires configuration, PostgreSQL and the Temporal client into the Express app. */
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { runMain } from '../runMain';
import { connectApp } from './app';
import { seedApiKeys } from '../db/apiKeys';
import { announce } from '../telemetry/logger';

runMain('api', async () => {
  const config = loadConfig(process.env);
  // A PostgreSQL that does not answer costs a request 5 s at most, then a 503 (see errors.ts).
  const db = createPool(config.databaseUrl, 20, { connectionTimeoutMs: 5_000 });
  await migrate(db);
  await seedApiKeys(db, config.api.keys);
  const { app, connection, tracing } = await connectApp(config, db);
  const server = app.listen(config.api.port, () => announce(`api listening on http://127.0.0.1:${config.api.port}`));

  const shutdown = () => {
    // Stop accepting, let in-flight requests finish, then close connections.
    server.close(async () => {
      await tracing.shutdown();
      await connection.close();
      await db.end();
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
});
