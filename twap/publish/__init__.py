"""Publishing the marts for Datasette: the SQLite tables, the versions on disk, their metadata and
views, from PostgreSQL or from Spark."""
