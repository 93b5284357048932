"""Tests of publishing (twap/publish/): tables, versions, swaps under a running site."""
