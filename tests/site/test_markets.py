"""`twap markets` refreshes the shipped table of market names from an info API (here a local
HTTP server answering as Hyperliquid's does); pages read only the table."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Twap
from twap.site.markets import market_name

# The shapes of Hyperliquid's `spotMeta` and `perpDexs` answers (fields trimmed).
ANSWERS = {
    "spotMeta": {
        "tokens": [
            {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0},
            {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1},
            {"name": "HYPE", "szDecimals": 2, "weiDecimals": 8, "index": 150},
            {"name": "UBTC", "szDecimals": 5, "weiDecimals": 10, "index": 197},
        ],
        "universe": [
            {"name": "@142", "tokens": [197, 0], "index": 142, "isCanonical": False},
            {"name": "PURR/USDC", "tokens": [1, 0], "index": 0, "isCanonical": True},
            {"name": "@107", "tokens": [150, 0], "index": 107, "isCanonical": False},
        ],
    },
    "perpDexs": [
        None,
        {
            "name": "xyz",
            "fullName": "XYZ",
            "deployer": "0x88806a71d74ad0a510b350545c9ae490912f0888",
        },
    ],
}


class InfoApi(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps(ANSWERS[request["type"]]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet in the test output
        pass


@pytest.fixture
def info_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), InfoApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/info"
    server.shutdown()
    server.server_close()


def test_markets_are_refreshed_from_the_info_api(twap: Twap, info_url: str, tmp_path: Path) -> None:
    out = tmp_path / "markets.csv"
    result = twap("markets", "--url", info_url, "--out", str(out))
    assert "3 spot pairs and HIP-3 dexes named" in result.stderr
    assert out.read_text() == "coin,name\n@107,HYPE/USDC\n@142,UBTC/USDC\nxyz:,XYZ\n"


def test_an_unreachable_info_api_is_one_line_and_changes_nothing(
    twap: Twap, tmp_path: Path
) -> None:
    out = tmp_path / "markets.csv"
    out.write_text("coin,name\n@107,HYPE/USDC\n")
    result = twap("markets", "--url", "http://127.0.0.1:9/info", "--out", str(out), check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot read spotMeta from http://127.0.0.1:9/info" in errors[0]
    assert out.read_text() == "coin,name\n@107,HYPE/USDC\n"


def test_the_shipped_table_names_spot_pairs_and_hip3_markets() -> None:
    assert market_name("@107") == "HYPE/USDC"
    assert market_name("xyz:NVDA") in ("NVDA on xyz", "NVDA on XYZ")
    assert market_name("BTC") is None
