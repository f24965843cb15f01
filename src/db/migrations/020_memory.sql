-- Long-term memory (issue 14.4): records of text per tenant and namespace, with provenance, expiry
-- and a trust level. Searched with full-text search and trigram similarity (pg_trgm, in contrib);
-- with pgvector present, embeddings too.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE memories (
  memory_id         uuid PRIMARY KEY,
  tenant_id         text NOT NULL,
  -- e.g. `user:42` or `agent:support`: a bundle reads and writes only the namespaces it names.
  namespace         text NOT NULL,
  -- The data subject the record is about (an end user's ID), for deletion requests; null when none.
  subject           text,
  text              text NOT NULL,
  -- operator: written through the API; approved: a model's save a human approved; agent: a model's save alone.
  trust             text NOT NULL CHECK (trust IN ('operator', 'approved', 'agent')),
  -- Who wrote it first (src/shared/memory.ts MemorySource): the run, step, tool call and bundle, or the API key.
  source            jsonb NOT NULL,
  -- Who last repeated or corrected it, when someone did.
  updated_source    jsonb,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  last_recalled_at  timestamptz,
  recall_count      integer NOT NULL DEFAULT 0,
  -- Null: kept until deleted. Past it the record is never returned, and the purge schedule deletes it.
  expires_at        timestamptz,
  -- The full-text index entry; deleting the row deletes it (and the trigram and vector entries).
  search            tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX memories_by_namespace ON memories (tenant_id, namespace, created_at DESC, memory_id DESC);
CREATE INDEX memories_by_subject ON memories (tenant_id, subject) WHERE subject IS NOT NULL;
CREATE INDEX memories_expiring ON memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX memories_search ON memories USING gin (search);
CREATE INDEX memories_trigrams ON memories USING gin (text gin_trgm_ops);

-- Embeddings where pgvector is installed (not on every PostgreSQL: Debian bookworm's has no package).
-- The block runs in a subtransaction, so a missing extension leaves the migration whole. The column
-- has no fixed dimension (whatever the embeddings model gives), hence no ANN index: an exact scan.
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS vector;
  EXECUTE 'ALTER TABLE memories ADD COLUMN embedding vector';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pgvector is not available (%): memory search uses full-text and trigram similarity only', SQLERRM;
END
$$;
