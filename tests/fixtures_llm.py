"""Fixtures for the fixtures_llm area."""
