"""Helpers of benchmarks/ceval_vs_lmeval.py (synthetic C-Eval data, lm-eval task files, reference scorer)."""
