"""dlt source, readers, ledger and pipelines for Hyperliquid TWAP status events in object stores."""
