"""Serving performance (`evals run --suite perf`): timed streaming requests, load shapes, SLA search.

- metrics.py: one request's timings and the summary of many (TTFT, TPOT, ITL, E2E latency, throughput)
- load.py: closed-loop (fixed concurrency) and open-loop (Poisson arrivals) drivers over a ChatStreamer
- prompts.py: the prompts: fixed length, C-Eval / LongBench items, or the arena question bank
- sla.py: `--sla "p99_ttft<1s"` parsing and the search for the highest concurrency that meets it
- settings.py: the run's options, checked once; outcome.py: the per-level result, stored and rendered
"""
