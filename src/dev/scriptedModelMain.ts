/** Serves the demo's scripted model on its own, e.g. as a docker-compose service. */
import { z } from 'zod';
import { runMain } from '../runMain';
import { supportDemoScript } from './demoScript';
import { startScriptedModel } from './scriptedModel';

runMain('scripted-model', async () => {
  const { BOSUN_MODEL_PORT } = z
    .object({ BOSUN_MODEL_PORT: z.coerce.number().int().min(1).max(65535).default(8300) })
    .parse(process.env);
  const server = await startScriptedModel(supportDemoScript, BOSUN_MODEL_PORT, '0.0.0.0');
  console.log(`scripted model listening on ${server.url}`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}, { human: true });
