"""Perplexity (PROTOCOLS.md "Leitai decisions" PPL, §4.3): corpus loading, window plans, aggregation.

Pure Python (no torch): `evals.suites.ppl` wires these to a runner's `token_logprobs`.
"""
