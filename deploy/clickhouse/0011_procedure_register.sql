-- The procedure register (TTHC catalogue): one row per procedure event, keyed by
-- (source, id) like every fact table. A version row (published / amended) carries the
-- statutory time, levels and legal basis; a repeal row carries only its effective day.
-- `effective_from` is the local (UTC+07:00) calendar day the version or repeal takes effect.

CREATE TABLE IF NOT EXISTS procedure_events
(
    source                 String,
    id                     String,
    type                   LowCardinality(String),
    procedure              String,
    agency                 LowCardinality(String),
    time                   DateTime64(3, 'UTC'),
    day                    Date,
    version                UInt32,
    name                   String,
    statutory_working_days UInt16,
    effective_from         Date,
    levels                 Array(LowCardinality(String)),
    legal_basis            String
)
ENGINE = ReplacingMergeTree
ORDER BY (procedure, type, effective_from, source, id)
SETTINGS non_replicated_deduplication_window = 1000;
