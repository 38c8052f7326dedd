"""Fixtures for the fixtures_retrieval area."""
