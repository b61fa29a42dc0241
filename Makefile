# The two commands of the README are `make run` and `make test`; the rest are for conversation designers.
SHELL := /bin/bash
REPLICAS ?= 2
.PHONY: run test lint setup train validate bench shop knowledge retrieval clean cluster bench-cluster

run:        ## set up, train if needed, start sandbox + action server + Rasa server
	bash scripts/run.sh

cluster:    ## several Rasa replicas (REPLICAS=2) behind nginx on :5005, PostgreSQL + Redis; README "Several replicas"
	REPLICAS=$(REPLICAS) bash scripts/cluster.sh

bench-cluster: ## the same 50-chat load on 1 and on 2 replicas, then a kill -9 of one (figures printed)
	bash scripts/setup.sh && . scripts/common.sh && RASA_MODEL="$${RASA_MODEL:-$$(bash scripts/train.sh)}" "$$ACTIONS_VENV/bin/python" bench/bench_cluster.py

test:       ## set up and run every test
	bash scripts/test.sh

lint:       ## ruff (lint) on everything and mypy on salesbot/ (settings in pyproject.toml)
	bash scripts/setup.sh && . scripts/common.sh && "$$ACTIONS_VENV/bin/ruff" check . && "$$ACTIONS_VENV/bin/mypy" salesbot

setup:      ## create/update the two venvs
	bash scripts/setup.sh

train:      ## train only when config/domain/data changed
	bash scripts/setup.sh && bash scripts/train.sh

validate:   ## rasa data validate
	bash scripts/setup.sh && . scripts/common.sh && "$$RASA" data validate --domain domain.yml --data data --config config.yml

bench:      ## training time, NLU latency p50/p99, end-to-end turn latency and throughput
	bash scripts/bench.sh

knowledge:  ## build or update the knowledge base from shop/knowledge (only changed files are re-embedded)
	bash scripts/setup.sh && . scripts/common.sh && "$$ACTIONS_VENV/bin/python" -m salesbot.knowledge build

retrieval:  ## recall@3 of each retriever on the Russian retrieval check (tests/retrieval_questions.yml)
	bash scripts/setup.sh && . scripts/common.sh && "$$ACTIONS_VENV/bin/python" -m salesbot.knowledge eval $(ARGS)

shop:       ## regenerate the demo shop (inventory, photos, knowledge documents)
	bash scripts/setup.sh && .venv/actions/bin/python scripts/make_demo_shop.py

clean:
	rm -rf results models/*.tar.gz runtime
