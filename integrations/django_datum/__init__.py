"""django_datum: polydatum plugin (in progress)."""
