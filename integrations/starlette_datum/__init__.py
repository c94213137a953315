"""starlette_datum: polydatum plugin (in progress)."""
