#!/usr/bin/env bash
# Build the manual (docs/*.md) into build/docs with Sphinx and MyST, warnings as errors (a broken
# cross-reference or heading anchor fails the build). Open build/docs/index.html.
#   bash tools/build_docs.sh [sphinx-build args...]
# Sets up (or reuses) .venv first; MMGCP_DOCS_PYTHON=PY builds with another Python that has the
# packages of requirements/docs.txt instead (the docs need nothing else).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${MMGCP_DOCS_PYTHON:-}" ]; then
    PY="$MMGCP_DOCS_PYTHON"
else
    bash "$ROOT/tools/setup_env.sh"
    PY="$ROOT/.venv/bin/python"
fi
cd "$ROOT"
# -W: warnings are errors; --keep-going: report all of them; -n: nitpicky (every reference must
# resolve); -E: read every page again, so a warning is never hidden by the cache.
exec "$PY" -m sphinx -b html -W --keep-going -n -E -q docs build/docs "$@"
