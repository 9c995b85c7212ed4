"""One timed lm-evaluation-harness run (a subprocess of benchmarks/ceval_vs_lmeval.py).

    python benchmarks/ceval_lmeval/run_lmeval.py --tasks-dir D --tasks t1,t2 --model M --shots 5 --out r.json

Writes r.json: per-task accuracy and n, per-document predictions (argmax of lm-eval's choice log-probs),
the first context of each task (to check it equals our prompt) and timings: imports, the whole
`simple_evaluate`, and model compute only (time inside `HFLM._loglikelihood_tokens`).
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tasks-dir", required=True)
    p.add_argument("--tasks", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--shots", type=int, required=True)
    p.add_argument("--batch-size", default="8")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    t_imported = time.perf_counter()
    compute = [0.0]
    original = HFLM._loglikelihood_tokens

    def timed(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            compute[0] += time.perf_counter() - t

    HFLM._loglikelihood_tokens = timed
    tasks = a.tasks.split(",")
    t_eval = time.perf_counter()
    res = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={a.model},dtype=float32",
        tasks=tasks,
        num_fewshot=a.shots,
        batch_size=int(a.batch_size) if a.batch_size.isdigit() else a.batch_size,
        device="cpu",
        task_manager=TaskManager(include_path=a.tasks_dir),
        log_samples=True,
        random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
    )  # fmt: skip
    t_done = time.perf_counter()
    out = {"tasks": {}, "timing": {
        "imports_s": t_imported - T0, "simple_evaluate_s": t_done - t_eval, "compute_s": compute[0],
        "in_process_s": t_done - T0,
    }}  # fmt: skip
    for task in tasks:
        samples = sorted(res["samples"][task], key=lambda s: s["doc_id"])
        preds = {}
        for s in samples:
            lls = [float(r[0]) for r in s["filtered_resps"]]
            preds[str(s["doc"]["id"])] = "ABCD"[max(range(len(lls)), key=lls.__getitem__)]
        first = samples[0]
        out["tasks"][task] = {
            "acc": res["results"][task]["acc,none"],
            "n": len(samples),
            "preds": preds,
            "first_doc_id": str(first["doc"]["id"]),
            "first_context": first["arguments"][0][0],
            "first_continuation": first["arguments"][0][1],
        }
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
