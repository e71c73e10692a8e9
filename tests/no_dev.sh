#!/usr/bin/env bash
# The bastion install, proved: the CLI with runtime dependencies only (no polars, no pyarrow),
# its help, and `endpoints` against a real local redis-server.
set -euo pipefail
run() { uv run --isolated --no-dev --with . "$@"; }
run python -c "import importlib.util as u, sys; sys.exit(0 if u.find_spec('polars') is None else 'polars is installed')"
help=$(run hotshard capture --help </dev/null 2>&1)
grep -q "hotshard capture" <<<"$help"
dir=$(mktemp -d)
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/pid" >/dev/null
trap 'kill "$(cat "$dir/pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
shards=$(run hotshard endpoints --endpoints "127.0.0.1:$port")
grep -q "127.0.0.1:$port" <<<"$shards"
# The analyze half is refused up front with the way to get it, and a capture that would end in
# an analysis does not start at all.
set +e
refused=$(run hotshard analyze "$dir/none.log" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "install the analyze extra" <<<"$refused"
set +e
refused=$(run hotshard capture --endpoints "127.0.0.1:$port" -d 1 --out "$dir/cap" --save-to-db 2>&1); rc=$?
set -e
[ "$rc" = 2 ] && grep -q "install the analyze extra" <<<"$refused" && [ ! -e "$dir/cap" ]
echo "bastion install: capture --help and endpoints work without polars or pyarrow"
