"""Leitai evaluation suites, run engine and the `evals` CLI."""
