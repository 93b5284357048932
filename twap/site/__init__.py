"""Everything the site serves: a Datasette plugin package, with its files as package data."""

from importlib import resources
from pathlib import Path

# The package's own files (an installed package is a folder: Datasette reads them by path).
FILES = Path(str(resources.files(__name__)))
TEMPLATES_DIR = FILES / "templates"
METADATA_FILE = FILES / "metadata.yml"
QUERIES_FILE = FILES / "queries.yml"
VIEWS_FILE = FILES / "views.sql"
MARKETS_FILE = FILES / "markets.csv"
# Where prometheus-client's multiprocess mode keeps each worker's counts (twap/site/metrics.py).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
