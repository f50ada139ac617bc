# The two commands of the README, and the checks CI runs.
.PHONY: demo test lint ci bench

demo:
	scripts/demo.sh

test:
	scripts/setup-moto.sh docs
	cargo test --all-targets
	scripts/lambda-local-test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

ci:
	bash .ci/run

bench:
	scripts/bench.sh
