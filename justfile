# hotshard tasks. `just --list` shows them.

# run the whole test suite (what CI runs)
test *args:
    uv run pytest {{args}}

# lint, format check and type check (ruff, mypy; cargo fmt, clippy and test for the native core)
lint:
    uv run ruff check . && uv run ruff format --check . && uv run python tools/typecheck.py
    cd analyze/native && cargo fmt --check && cargo clippy --all-targets -- -D warnings && cargo clippy --features python -- -D warnings && cargo test --quiet

# format the code
fmt:
    uv run ruff format . && uv run ruff check --fix .

# analyze the bundled sample capture into ./hotshard-out
sample-analyze:
    uv run hotshard analyze samples/hot-zset --out hotshard-out

# record the sample captures again (starts a local Redis Cluster)
sample:
    uv run python -m samples.workloads

# rewrite golden files from the current code; review the diff like code
update-golden:
    uv run pytest tests/test_golden.py tests/render/test_report.py tests/test_readme.py tests/render/test_charts.py --update-golden

# run the benchmarks (prints ratios against in-run baselines)
bench:
    uv run python -m bench.analyze_bench && uv run python -m bench.capture_bench

# start a local cluster (3 primaries + 3 replicas; engine redis70, valkey91 or redis62) in ./.cluster
cluster-up engine="redis70":
    uv run python -m tests.cluster_cli up .cluster {{engine}}

# stop the local Redis Cluster started by cluster-up
cluster-down:
    uv run python -m tests.cluster_cli down .cluster

# prove the bastion install (runtime dependencies only) runs the real CLI against a local server
test-no-dev-dependencies:
    bash tests/no_dev.sh
