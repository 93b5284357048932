"""Tests of the site (twap/site): the pure pieces alone, the served pages through Datasette."""
