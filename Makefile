# Leitai: `make demo` runs C-Eval on the embedded default; `make test` runs the test-suite.
# Both install what they need into .venv first (torch 2.13.0 before anything else, so pip does not
# pull a multi-GB CUDA build on CPU machines; on a GPU host pip's torch is the CUDA build as usual).

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.leitai-installed
EXTRAS ?= dev,quant,lmeval

.PHONY: install demo test browser candidates clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/evals run --suite ceval

# Chromium for the end-to-end browser tests (Debian package; never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (apt-get install chromium)"; fi; }

# Train the candidate models on CPU (tiny base -> continued pre-train -> LoRA SFT + full SFT), then
# PPL, C-Eval and arena answers for each (training/candidates.py; DB from EVALS_DB_URL or the default).
candidates: install
	$(PY) -m training.candidates

test: install browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
