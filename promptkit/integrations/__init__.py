"""Bridges to other frameworks; each submodule imports its framework when it is imported."""
