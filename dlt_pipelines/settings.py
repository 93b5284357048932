"""Names and defaults shared by the source, the pipeline and the `twap` command."""

import pyarrow as pa

PIPELINE_NAME = "hyperliquid_twap"
LAKE_PIPELINE_NAME = "hyperliquid_twap_lake"
DATASET_NAME = "raw"
EVENTS_TABLE = "twap_status_events"
# TWAP slice fills (fills with a twapId), read from the same source beside the status events.
FILLS_TABLE = "twap_fills"
LEDGER_TABLE = "twap_ingest_objects"
COMMITS_TABLE = "twap_ingest_commits"
QUARANTINE_TABLE = "twap_quarantined_rows"
# Where dbt logs its builds (dbt_project/macros/build_log.sql): which commit each one took in.
BUILD_LOG_SCHEMA = "intermediate"
BUILD_LOG_TABLE = "dbt_build_log"

# Every file under the source; files that are not data are skipped by name (formats.NOT_DATA).
DEFAULT_FILE_GLOB = "**"
# Objects fetched concurrently and normalised into one arrow table per dlt item.
OBJECTS_PER_BATCH = 64
# ... and at most this many bytes of them; the batch goes to dlt in items of at most this many rows.
# The next batch is read while dlt writes this one: a few batches to a bulk load let the two
# overlap (one batch of 64 MB took 25% longer to extract 1M rows than batches of 16 MB).
BATCH_BYTES = 16 * 1024 * 1024
ROWS_PER_ITEM = 100_000
# Objects larger than this are streamed batch by batch instead of read whole (memory stays flat).
LARGE_OBJECT_BYTES = 16 * 1024 * 1024

# The lake ledger's logs are compacted once they hold more files than this: a day of hourly
# loads, each adding a file to both logs (every load reads them all, two requests each on S3).
LEDGER_MAX_FILES = 48

# S3 client: attempts per request (adaptive retry mode) and socket timeouts in seconds.
S3_MAX_ATTEMPTS = 10
S3_CONNECT_TIMEOUT = 10.0
S3_READ_TIMEOUT = 60.0

# The canonical raw schema (DATA.md, canonical form). Amounts stay decimal strings so raw keeps
# the source's exact digits; staging casts them to numeric.
EVENT_SCHEMA = pa.schema(
    [
        pa.field("twap_id", pa.int64()),
        pa.field("event_time", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string()),
        pa.field("status_description", pa.string()),
        pa.field("wallet", pa.string()),
        pa.field("coin", pa.string()),
        pa.field("side", pa.string()),
        pa.field("sz", pa.string()),
        pa.field("executed_sz", pa.string()),
        pa.field("executed_ntl", pa.string()),
        pa.field("minutes", pa.int64()),
        pa.field("reduce_only", pa.bool_()),
        pa.field("randomize", pa.bool_()),
        pa.field("started_at", pa.timestamp("us", tz="UTC")),
    ]
)
REQUIRED_COLUMNS = ("twap_id", "event_time", "status", "wallet", "coin", "side")
AMOUNT_COLUMNS = ("sz", "executed_sz", "executed_ntl")

# The canonical raw form of one TWAP slice fill (DATA.md, Slice fills): the fill as Hyperliquid
# writes it, snake_case, amounts as decimal strings; `wallet` is null where the source does not
# name the user (a saved info API response). `liquidation` is the source's object as JSON text.
FILL_SCHEMA = pa.schema(
    [
        pa.field("twap_id", pa.int64()),
        pa.field("tid", pa.int64()),
        pa.field("wallet", pa.string()),
        pa.field("coin", pa.string()),
        pa.field("side", pa.string()),
        pa.field("px", pa.string()),
        pa.field("sz", pa.string()),
        pa.field("fill_time", pa.timestamp("us", tz="UTC")),
        pa.field("fee", pa.string()),
        pa.field("fee_token", pa.string()),
        pa.field("closed_pnl", pa.string()),
        pa.field("start_position", pa.string()),
        pa.field("dir", pa.string()),
        pa.field("hash", pa.string()),
        pa.field("oid", pa.int64()),
        pa.field("crossed", pa.bool_()),
        pa.field("cloid", pa.string()),
        pa.field("builder_fee", pa.string()),
        pa.field("liquidation", pa.string()),
    ]
)
FILL_REQUIRED_COLUMNS = ("twap_id", "tid", "fill_time", "coin", "side", "px", "sz")
# Amounts that must be zero or more; fee, closed_pnl and start_position may be negative.
FILL_AMOUNT_COLUMNS = ("px", "sz", "builder_fee")
FILL_SIGNED_AMOUNT_COLUMNS = ("fee", "closed_pnl", "start_position")

# Lineage columns appended to every raw row.
LINEAGE_SCHEMA = pa.schema(
    [
        pa.field("object_key", pa.string(), nullable=False),
        pa.field("object_version", pa.string(), nullable=False),
        pa.field("object_row", pa.int64(), nullable=False),
    ]
)

# A rejected row: where it came from, why, and the source row as JSON text.
QUARANTINE_SCHEMA = pa.schema(
    [*LINEAGE_SCHEMA, pa.field("reason", pa.string(), nullable=False), pa.field("row", pa.string())]
)
