"""The `twap` command: load, build, publish and serve Hyperliquid TWAP data."""
