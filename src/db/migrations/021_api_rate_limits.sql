-- Per-key request rate limits of the API (issue 16), shared by every API replica: one row per key
-- with the count of the current minute (src/db/apiRateLimits.ts). A fixed window: the count starts
-- again at each minute, so a key may send up to twice its limit across a minute boundary.
CREATE TABLE api_rate_limits (
  key_id            text PRIMARY KEY REFERENCES api_keys (key_id),
  -- The minute being counted (date_trunc('minute', now())) and the requests in it so far.
  window_start      timestamptz NOT NULL DEFAULT 'epoch',
  requests          integer NOT NULL DEFAULT 0,
  -- This key's own limit in requests per minute; NULL takes BOSUN_API_RATE_LIMIT, 0 means none.
  limit_per_minute  integer CHECK (limit_per_minute >= 0)
);
