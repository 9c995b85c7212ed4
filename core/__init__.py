"""Shared basics below every domain package: the user-error type, the progress display, `ModelSpec`.

Imports nothing else of ours (tests/test_layers.py keeps it that way)."""
