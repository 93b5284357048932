"""Reading objects: formats, layouts, row normalisation, and objects into canonical events."""
