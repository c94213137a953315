"""A tiny app with ORM models for the transaction tests."""
