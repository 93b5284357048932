"""The site's Datasette plugins, one module per job, each registered as a `datasette` entry point."""
