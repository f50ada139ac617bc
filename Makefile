# The two commands of the README, and the checks CI runs.
.PHONY: demo test lint ci bench package

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

# The Lambda zip a StackSet (CodeBucket/CodeKey) or a bucket needs, for this machine's architecture
# (the template's Architecture must match): target/lambda/sgsync/bootstrap.zip.
package:
	scripts/setup-moto.sh
	[ -x .venv/bin/cargo-lambda ] || .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda
	PATH="$$PWD/.venv/bin:$$PATH" cargo lambda build --release --compiler cargo --output-format zip
	@ls -l target/lambda/sgsync/bootstrap.zip
