# One command each: `make demo` (set up + evaluate the tiny model on the mini set + leaderboard) and
# `make test` (set up + the whole test suite). Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := hf,api,train,deepspeed,annotate,dev

.PHONY: venv demo test test-fast lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints/cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned in the same pip command as everything else (CPU wheel; see constraints/cpu.txt)
	$(BIN)/python -m pip install -q -c constraints/cpu.txt torch==2.13.0 -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: venv
	HF_HUB_OFFLINE=1 $(BIN)/mmlw eval --model tiny-random-qwen2.5-vl --data mini --output runs/demo
	$(BIN)/mmlw leaderboard runs/demo --reported

# DS_ACCELERATOR=cpu: DeepSpeed's CPU accelerator (gloo) for the two-process ZeRO-3 tests
test: venv
	HF_HUB_OFFLINE=1 DS_ACCELERATOR=cpu $(BIN)/python -m pytest -q

test-fast: venv
	HF_HUB_OFFLINE=1 DS_ACCELERATOR=cpu $(BIN)/python -m pytest -q -m "not slow and not browser"

# mypy cannot follow the editable install's folder mapping, so it checks a plain install in a temp dir.
lint: venv
	$(BIN)/ruff check mmlongbench_write tasks judges model_adapters leaderboard tests benchmarks scripts
	rm -rf build/typecheck && $(BIN)/python -m pip install -q --no-deps --no-compile --target build/typecheck .
	cd build/typecheck && ../../$(BIN)/mypy -p mmlongbench_write --ignore-missing-imports

bench: venv
	$(BIN)/python benchmarks/bench_api_concurrency.py
	$(BIN)/python benchmarks/bench_report.py

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache test-artifacts
