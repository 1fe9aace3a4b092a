-- Every event as it arrived, one row per CloudEvents (source, id).
-- ReplacingMergeTree on (source, id): a redelivered or replayed event collapses into one
-- row at merge time; readers that need exact counts use uniqExact(source, id) or FINAL.
-- non_replicated_deduplication_window makes a repeated insert block (same
-- insert_deduplication_token) a no-op even before any merge.
CREATE TABLE IF NOT EXISTS events
(
    source        String,
    id            String,
    type          LowCardinality(String),
    family        LowCardinality(String),
    subject       String,
    agency        LowCardinality(String),
    time          DateTime64(3, 'UTC'),
    received_time Nullable(DateTime64(3, 'UTC')),
    publisher     Nullable(String),
    data          String,
    topic         LowCardinality(String),
    partition     UInt16,
    offset        UInt64,
    ingested_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (family, agency, source, id)
SETTINGS non_replicated_deduplication_window = 1000;
