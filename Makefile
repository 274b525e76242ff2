.PHONY: demo test check bench

demo:
	scripts/demo

test:
	scripts/test

check:
	scripts/venv collector,test
	scripts/check

bench:
	scripts/venv collector,test
	.venv/bin/python bench/wrap_overhead.py
