"""dlt source and pipeline for Hyperliquid TWAP status events stored as hourly parquet objects."""
