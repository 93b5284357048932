"""The ingest ledger, the commit log of raw: its rules, in PostgreSQL and on a lake."""
