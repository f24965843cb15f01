/** API process: wires configuration, PostgreSQL and the Temporal client into the Express app. */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { runMain } from '../runMain';
import { createEncryptionCodec, encryptingDataConverter } from '../temporal/encryptionCodec';
import { createApp } from './app';
import { seedApiKeys } from './auth';

runMain('api', async () => {
  const config = loadConfig(process.env);
  const db = createPool(config.databaseUrl, 20);
  await migrate(db);
  await seedApiKeys(db, config.api.keys);
  const connection = await Connection.connect({ address: config.temporal.address });
  const codec = createEncryptionCodec(config.encryption);
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: encryptingDataConverter(codec) });

  const app = createApp({
    db,
    temporal,
    taskQueue: config.temporal.taskQueue,
    approvalTimeoutMs: config.approvalTimeoutMs,
    codec,
    codecCorsOrigins: config.codecServer.corsOrigins,
  });
  const server = app.listen(config.api.port, () => console.log(`api listening on http://127.0.0.1:${config.api.port}`));

  const shutdown = () => {
    // Stop accepting, let in-flight requests finish, then close connections.
    server.close(async () => {
      await connection.close();
      await db.end();
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
});
