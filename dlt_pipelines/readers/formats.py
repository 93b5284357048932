"""File formats found from content: parquet, JSON lines or CSV, each maybe gzip/zstd/lz4-compressed.

The node writes files without an extension, so the format comes from the first bytes, never
from the name. Every reader is pyarrow's (vectorised); only a JSON array file is re-read
record by record.
"""

import csv
import fnmatch
import gzip
import itertools
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from dlt_pipelines.errors import BadObjectError, one_line
from dlt_pipelines.readers.fill_lines import holds_fill_lines, twap_fill_lines
from dlt_pipelines.settings import FILL_SCHEMA

PARQUET_MAGIC = b"PAR1"
# Leading bytes of each compressed container pyarrow decompresses (lz4 is the frame format).
COMPRESSIONS = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4"}
CSV_DELIMITERS = ",;\t|"
# The node writes an error status as {"error": msg} and the others as strings; arrow's JSON
# reader needs one type per column, so the object becomes the flattened form's two columns.
_ERROR_STATUS_OBJECT = re.compile(
    rb'"status"\s*:\s*\{\s*"error"\s*:\s*("(?:[^"\\]|\\.)*")\s*\}', re.DOTALL
)
_ERROR_STATUS_COLUMNS = rb'"status":"error","status_error":\1'
_JSON_BLOCK_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 16 * 1024 * 1024

# Files in a data folder that are not data, each with why it is skipped (glob on the file name).
NOT_DATA: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dot-file", (".*",)),
    ("temporary file of a sync in progress", ("*.tmp", "*.temp", "*.part", "*.partial", "*~")),
    ("job marker", ("_SUCCESS", "_FAILURE", "_started_*", "_committed_*", "_temporary")),
    ("parquet summary", ("_metadata", "_common_metadata")),
    (
        "checksum",
        ("*.crc", "*.md5", "*.sha1", "*.sha256", "*.sha512", "*SUMS", "*.md5sum", "*.sha256sum"),
    ),
)
# One regular expression per reason: a year of objects is listed in milliseconds.
_NOT_DATA_NAMES = tuple(
    (why, re.compile("|".join(fnmatch.translate(glob) for glob in globs)))
    for why, globs in NOT_DATA
)


def not_data_reason(relative_path: str) -> str | None:
    """Why the file at `relative_path` (under the source) is not data, or None when it may be.

    A dot-folder (a sync tool's state) or a job's `_temporary` folder hides everything below it.
    """
    *folders, name = relative_path.split("/")
    if any(folder.startswith(".") for folder in folders):
        return "dot-file"
    if "_temporary" in folders:
        return "temporary file of a sync in progress"
    return next((why for why, names in _NOT_DATA_NAMES if names.match(name)), None)


def decompressed(data: bytes) -> tuple[Iterator[bytes], str | None]:
    """The bytes inside a gzip, zstd or lz4 container (and which), in chunks, or `data` itself.

    zstd and lz4 are read in large chunks: far faster than pyarrow's read-it-all, and the
    caller may scan them as they come (an hour of the node's fills is hundreds of MB)."""
    codec = next((name for magic, name in COMPRESSIONS.items() if data.startswith(magic)), None)
    if codec is None:
        return iter([data]), None
    if codec == "gzip":
        try:
            return iter([gzip.decompress(data)]), codec  # concatenated members, as gzip -c makes
        except (OSError, EOFError) as exc:
            raise BadObjectError(f"not a readable {codec} file: {one_line(exc)}") from exc
    return _stream_chunks(data, codec), codec


def _stream_chunks(data: bytes, codec: str) -> Iterator[bytes]:
    """Decompressed chunks, the next one decompressed in a thread (pyarrow releases the GIL)
    while the caller works on this one, as `lz4 -dc | grep` runs in two processes."""
    stream = pa.CompressedInputStream(pa.BufferReader(data), codec)

    def read() -> bytes:
        return stream.read_buffer(_CHUNK_BYTES).to_pybytes()

    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            pending = pool.submit(read)
            while chunk := pending.result():
                pending = pool.submit(read)
                yield chunk
        except (OSError, EOFError, pa.ArrowException) as exc:
            raise BadObjectError(f"not a readable {codec} file: {one_line(exc)}") from exc


def read_table(data: bytes) -> pa.Table:
    """The rows of one object in whatever supported format its bytes are."""
    chunks, codec = decompressed(data)
    within = f" inside {codec}" if codec else ""
    first = next(chunks, b"")
    if holds_fill_lines(first):
        # Fills: only the TWAP slices are parsed (an hour of the node's fills is every fill).
        lines = twap_fill_lines(itertools.chain([first], chunks))
        return _read_json_lines(lines, within) if lines else FILL_SCHEMA.empty_table()
    content = b"".join([first, *chunks])
    start = content[:4096].lstrip()
    if content.startswith(PARQUET_MAGIC):
        try:
            return pq.read_table(pa.BufferReader(content))
        except (pa.ArrowException, OSError) as exc:
            raise BadObjectError(f"not a readable parquet file{within}: {one_line(exc)}") from exc
    if start.startswith(b"{"):
        return _read_json_lines(content, within)
    if start.startswith(b"["):
        return _read_json_array(content, within)
    delimiter = _csv_delimiter(start)
    if delimiter is not None:
        return _read_csv(content, delimiter, within)
    raise BadObjectError(
        f"unknown format{within}: first bytes {content[:8].hex(' ') or '(none)'} (expected "
        "parquet, JSON lines or CSV with a header, maybe gzip, zstd or lz4 compressed)"
    )


def _read_json_lines(content: bytes, within: str) -> pa.Table:
    if b'"error"' in content and b'"status"' in content:
        content = _ERROR_STATUS_OBJECT.sub(_ERROR_STATUS_COLUMNS, content)
    try:
        return pa_json.read_json(
            pa.BufferReader(content),
            read_options=pa_json.ReadOptions(block_size=min(len(content) + 1, _JSON_BLOCK_BYTES)),
        )
    except (pa.ArrowException, OSError) as exc:
        raise BadObjectError(f"not readable as JSON lines{within}: {one_line(exc)}") from exc


def _read_json_array(content: bytes, within: str) -> pa.Table:
    """A JSON array of records (an API response kept as is): re-written as JSON lines."""
    try:
        records = json.loads(content)
    except ValueError as exc:
        raise BadObjectError(f"not readable as JSON{within}: {one_line(exc)}") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadObjectError(f"a JSON array{within} that does not hold records")
    return _read_json_lines(b"\n".join(json.dumps(r).encode() for r in records) or b"{}", within)


def _csv_delimiter(start: bytes) -> str | None:
    """The delimiter of a CSV header line, or None when the bytes are not a text table."""
    try:
        header = start.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        return None
    if not header or any(char < " " and char != "\t" for char in header):
        return None  # binary bytes that happen to be UTF-8
    try:
        delimiter = csv.Sniffer().sniff(header, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return None
    return delimiter if delimiter in header else None


def _read_csv(content: bytes, delimiter: str, within: str) -> pa.Table:
    """Every column as text: amounts keep their digits, the layout decides the types."""
    first_line = content.split(b"\n", 1)[0].decode("utf-8-sig")
    header = next(csv.reader([first_line], delimiter=delimiter))
    names = [name.strip() for name in header]
    try:
        return pa_csv.read_csv(
            pa.BufferReader(content),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, OSError) as exc:
        raise BadObjectError(f"not readable as CSV{within}: {one_line(exc)}") from exc
