#!/usr/bin/env bash
# Set up (or reuse) the environment, then run mmgcp's whole test suite, on 2 pytest-xdist workers
# (one per core of the 2-core machines it is sized for; MMGCP_TEST_WORKERS=N to change, 0 for
# none).
#   bash tools/run_tests.sh [pytest args...]      e.g.  -m "not slow"  for the quick subset
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest tests -n "${MMGCP_TEST_WORKERS:-2}" "$@"
