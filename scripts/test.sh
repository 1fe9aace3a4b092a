#!/usr/bin/env bash
# Everything CI checks: lint, types, import contracts, contracts drift, then the tests on a
# real broker and the embedded ClickHouse engine. `--layer unit|integration|e2e` narrows it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=.venv/bin

layer=""
if [[ "${1:-}" == "--layer" ]]; then layer="$2"; shift 2; fi

if [[ -z "$layer" ]]; then
  echo "== ruff";      $BIN/ruff check . && $BIN/ruff format --check .
  echo "== mypy";      $BIN/mypy
  echo "== imports";   $BIN/lint-imports
  echo "== contracts"; $BIN/qms schemas check
fi

export QMS_DATA_DIR="$PWD/var/test"
rm -rf "$QMS_DATA_DIR"
markers=()
[[ -n "$layer" ]] && markers=(-m "$layer")

set +e
bash scripts/with-kafka.sh $BIN/pytest --durations=20 "${markers[@]}" "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a broken suite, never a pass.
if [[ $status -eq 5 ]]; then
  echo "pytest collected no tests: failing the run" >&2
  exit 1
fi
exit $status
