# Two entry points: `make demo` and `make test`. Each builds .venv itself on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export OPENBLAS_NUM_THREADS := 1
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
SAMPLE := samples/datasets
DEMO_DIR := demo-collection
DEMO_CLASSIFIER := demo-classifier
DEMO_RECOMMENDER := demo-recommender
DEMO_GIFTS := demo-gifts
GIFTS := samples/gifts
VIEWS := samples/recommend/views.csv
TICKETS := samples/classify

.PHONY: demo serve test lint mutation reproduce clean

$(VENV)/.base: constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	# torch first, from the pin, so no later step resolves a CUDA build
	$(PIP) "torch==2.13.*"
	touch $@

$(VENV)/.installed: $(VENV)/.base pyproject.toml
	$(PIP) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/neurank index $(SAMPLE) --out $(DEMO_DIR) --force
	$(BIN)/neurank search $(DEMO_DIR) "weather observations for climate research" -k 3 --mode bm25
	$(BIN)/neurank search $(DEMO_DIR) "weather observations for climate research" -k 3 --mode dense
	$(BIN)/neurank search $(DEMO_DIR) "weather observations for climate research" -k 3 --mode hybrid
	$(BIN)/neurank tune $(DEMO_DIR) --dataset $(SAMPLE) --split train
	$(BIN)/neurank evaluate $(DEMO_DIR) --dataset $(SAMPLE) --split test --mode bm25,dense,hybrid
	$(BIN)/neurank ranker train $(DEMO_DIR) --dataset $(SAMPLE) --split train
	$(BIN)/neurank search $(DEMO_DIR) "weather observations for climate research" -k 3 --mode learned
	$(BIN)/neurank evaluate $(DEMO_DIR) --dataset $(SAMPLE) --split test --mode hybrid,learned
	$(BIN)/neurank rec train --data $(VIEWS) --out $(DEMO_RECOMMENDER) --budget-s 30
	$(BIN)/neurank rec recommend $(DEMO_RECOMMENDER) --user u1 --user someone-new -k 5
	$(BIN)/neurank rec train --data $(GIFTS)/interactions.csv --users $(GIFTS)/users.jsonl \
		--items $(GIFTS)/catalog.csv --model profile --min-rating 4 --out $(DEMO_GIFTS)
	$(BIN)/neurank rec recommend $(DEMO_GIFTS) -k 4 --explain --max-per-category 2 \
		--profile '{"age": 34, "relationship": "friend", "hobbies": ["cooking", "coffee"]}' \
		--filter 'price={"lte": 50}' --filter occasions=birthday
	$(BIN)/neurank classify train --data $(TICKETS) --out $(DEMO_CLASSIFIER)
	$(BIN)/neurank classify evaluate $(DEMO_CLASSIFIER) --data $(TICKETS) --split test
	$(BIN)/neurank classify predict $(DEMO_CLASSIFIER) "I was charged twice and the app crashes" "where is my parcel"

# after `make demo`: the HTTP API and web page over the demo collection on http://127.0.0.1:8000/
serve: $(VENV)/.installed
	$(BIN)/neurank serve --collection $(DEMO_DIR) --recommender $(DEMO_RECOMMENDER) \
		--classifier $(DEMO_CLASSIFIER) --preload

test: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

# mutation testing of the modules listed in pyproject's [tool.mutmut] (tens of minutes).
# mutmut forks a child per mutant: a child forked after an OpenMP parallel region (torch,
# FAISS) blocks forever on its first one, which mutmut then reports as a timeout.
mutation: $(VENV)/.dev
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# re-run every pinned benchmark on ../shared/data and check each pinned figure (hours on 2
# cores; `benchmarks/reproduce.py --check-only` compares the results already on disk)
reproduce: $(VENV)/.dev
	$(BIN)/python benchmarks/reproduce.py

# ruff's linter only: the code is not laid out by `ruff format` (it would rewrap 172 files)
lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_CLASSIFIER) $(DEMO_RECOMMENDER) $(DEMO_GIFTS) .pytest_cache mutants
