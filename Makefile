# The two set-up commands of the README. Both install what is missing first (infra/bootstrap.sh).
.PHONY: up test bench setup

setup:
	@infra/bootstrap.sh

up: setup
	.venv/bin/vigil up

test: setup
	.venv/bin/pytest

bench: setup
	.venv/bin/python -m bench
