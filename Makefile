.PHONY: demo test check bench

demo:
	scripts/demo

test:
	scripts/test

check:
	scripts/venv test
	scripts/check

bench:
	scripts/venv test
	.venv/bin/python bench/wrap_overhead.py
