/**
 * Embeddings from an OpenAI-compatible `/embeddings` endpoint, for memory search where pgvector is
 * installed (the scripted model serves deterministic ones offline, src/dev/scriptedModel.ts).
 */
import OpenAI from 'openai';

/** One vector per text, in order. Rejects when the endpoint fails or answers another count. */
export type Embedder = (texts: readonly string[]) => Promise<number[][]>;

export interface EmbeddingsSettings {
  model: string;
  /** The endpoint; the OpenAI API when absent. */
  baseUrl: string | undefined;
  apiKey: string;
}

/** An embedder on `settings`' endpoint and model. Retries twice (the caller is a tool call or an API request, not a Temporal retry loop). */
export function createEmbedder(settings: EmbeddingsSettings): Embedder {
  const client = new OpenAI({ apiKey: settings.apiKey, baseURL: settings.baseUrl, maxRetries: 2, timeout: 20_000 });
  return async (texts) => {
    // Floats, not the SDK's default base64: every OpenAI-compatible server speaks floats.
    const answer = await client.embeddings.create({ model: settings.model, input: [...texts], encoding_format: 'float' });
    if (answer.data.length !== texts.length) throw new Error(`embeddings: asked for ${texts.length} vectors, got ${answer.data.length}`);
    return [...answer.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
  };
}
