/**
 * Embeddings for memory search: the OpenAI-compatible client against the scripted model's real
 * `/embeddings` endpoint, and the switch that uses them only where pgvector is installed (it is not
 * on this machine: the vector search itself is not exercised here, see docs/memory.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { vectorSearchAvailable } from '../../src/db/memory';
import { createPool, type Db } from '../../src/db/pool';
import { embeddingOf, startScriptedModel, type ScriptedModelServer } from '../../src/dev/scriptedModel';
import { createEmbedder } from '../../src/memory/embeddings';
import { createMemoryService } from '../../src/memory/service';

describe('memory embeddings', () => {
  let model: ScriptedModelServer;
  let db: Db;
  beforeAll(async () => {
    model = await startScriptedModel({ rules: [] });
    db = createPool(inject('databaseUrl'));
  });
  afterAll(async () => {
    await model?.close();
    await db?.end();
  });

  it("gets the scripted model's deterministic vectors through the OpenAI client, in order", async () => {
    const embed = createEmbedder({ model: 'text-embedding-3-small', baseUrl: model.url, apiKey: 'not-needed' });
    expect(await embed(['window seats', 'invoices'])).toEqual([embeddingOf('window seats'), embeddingOf('invoices')]);
  });

  it("serves base64 float32s, the OpenAI SDK's default encoding, too", async () => {
    const OpenAI = (await import('openai')).default;
    const client = new OpenAI({ apiKey: 'not-needed', baseURL: model.url, maxRetries: 0 });
    const answer = await client.embeddings.create({ model: 'any', input: 'window seats' });
    expect(answer.data[0]!.embedding).toEqual([...new Float32Array(embeddingOf('window seats'))]);
  });

  it('embeds only where the embedding column exists, and never without an embedder', async () => {
    let calls = 0;
    const counting = async (texts: readonly string[]) => {
      calls += 1;
      return texts.map(embeddingOf);
    };
    const vectors = await vectorSearchAvailable(db);
    const withEmbedder = await createMemoryService(db, counting).embeddingOf('window seats');
    expect(withEmbedder).toEqual(vectors ? embeddingOf('window seats') : undefined);
    expect(calls).toBe(vectors ? 1 : 0);
    expect(await createMemoryService(db).embeddingOf('window seats')).toBeUndefined();
  });
});
