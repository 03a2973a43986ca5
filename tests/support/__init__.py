"""Helpers for the test suite: real services (PostgreSQL, ...) started for the tests."""
