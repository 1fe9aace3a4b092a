-- One typed fact table per event family, keyed (ordering key ends) by (source, id) so
-- duplicates collapse. `day` is the local (UTC+07:00) calendar day of `time`.

CREATE TABLE IF NOT EXISTS dossier_events
(
    source       String,
    id           String,
    type         LowCardinality(String),
    dossier      String,
    agency       LowCardinality(String),
    procedure    LowCardinality(String),
    time         DateTime64(3, 'UTC'),
    day          Date,
    channel      LowCardinality(String),
    online_level UInt8,
    due_at       Nullable(DateTime64(3, 'UTC')),
    received_at  Nullable(DateTime64(3, 'UTC')),
    outcome      LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (agency, procedure, type, dossier, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS complaint_events
(
    source        String,
    id            String,
    type          LowCardinality(String),
    complaint     String,
    agency        LowCardinality(String),
    time          DateTime64(3, 'UTC'),
    day           Date,
    kind          LowCardinality(String),
    channel       LowCardinality(String),
    category      LowCardinality(String),
    procedure     LowCardinality(String),
    dossier       String,
    substantiated Nullable(UInt8)
)
ENGINE = ReplacingMergeTree
ORDER BY (agency, type, complaint, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS satisfaction_ratings
(
    source    String,
    id        String,
    rating    String,
    agency    LowCardinality(String),
    time      DateTime64(3, 'UTC'),
    day       Date,
    dossier   String,
    procedure LowCardinality(String),
    channel   LowCardinality(String),
    score     UInt8
)
ENGINE = ReplacingMergeTree
ORDER BY (agency, procedure, day, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS audit_events
(
    source         String,
    id             String,
    type           LowCardinality(String),
    audit          String,
    agency         LowCardinality(String),
    time           DateTime64(3, 'UTC'),
    day            Date,
    kind           LowCardinality(String),
    audited_agency LowCardinality(String),
    on_site        Nullable(UInt8),
    planned_on     Nullable(Date),
    finding_id     String,
    classification LowCardinality(String),
    iso_clause     LowCardinality(String),
    process        String,
    procedure      LowCardinality(String),
    findings       Nullable(UInt32)
)
ENGINE = ReplacingMergeTree
ORDER BY (audited_agency, type, audit, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS objective_events
(
    source     String,
    id         String,
    type       LowCardinality(String),
    objective  String,
    agency     LowCardinality(String),
    time       DateTime64(3, 'UTC'),
    day        Date,
    indicator  LowCardinality(String),
    target     Float64,
    comparison LowCardinality(String),
    period     LowCardinality(String),
    actual     Nullable(Float64),
    met        Nullable(UInt8)
)
ENGINE = ReplacingMergeTree
ORDER BY (agency, indicator, period, objective, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

-- `agency` is the CAPA's agency (data.agency of capa.opened; the envelope's otherwise).
CREATE TABLE IF NOT EXISTS capa_events
(
    source              String,
    id                  String,
    type                LowCardinality(String),
    capa                String,
    agency              LowCardinality(String),
    time                DateTime64(3, 'UTC'),
    day                 Date,
    sequence            UInt32,
    actor_role          LowCardinality(String),
    nc_source           LowCardinality(String),
    process             String,
    procedure           LowCardinality(String),
    severity            LowCardinality(String),
    classification      LowCardinality(String),
    correction_due_on   Nullable(Date),
    closure_due_on      Nullable(Date),
    result              LowCardinality(String),
    root_cause_category LowCardinality(String),
    earlier_capa_id     String,
    actions             UInt16
)
ENGINE = ReplacingMergeTree
ORDER BY (capa, sequence, source, id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Ledger checkpoints carry no CloudEvents id: their Kafka position is their identity.
CREATE TABLE IF NOT EXISTS ledger_checkpoints
(
    topic       LowCardinality(String),
    partition   UInt16,
    offset      UInt64,
    origin      String,
    tree_size   UInt64,
    root_hash   String,
    body        String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 1000;
