"""flask_datum: polydatum plugin (in progress)."""
