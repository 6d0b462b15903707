#!/usr/bin/env bash
# Installs AgentMem into ./.venv on a fresh machine (Python 3.11, pip, npm).
#   bash scripts/install.sh          # the service
#   bash scripts/install.sh --test   # the service + test tools (+ Debian chromium for the browser test)
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build (the CPU wheel is local)
pip install -q "torch==2.13.0"
if [[ "${1:-}" == "--test" ]]; then
  pip install -q -e ".[torch,test]"
else
  pip install -q -e ".[torch]"
fi
# GraphiQL's browser assets come from the npm registry (lockfile in the repo), served locally
(cd app/static/graphiql && npm ci --no-audit --no-fund --loglevel=error)
# Swagger UI for /docs, likewise; --ignore-scripts skips its dependency's install-time analytics
(cd app/static/apidocs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
# the explorer's libraries (cytoscape, graphql-ws) for /explorer/, likewise
(cd app/static/explorer && npm ci --no-audit --no-fund --loglevel=error)
if [[ "${1:-}" == "--test" ]]; then
  # Neo4j's own Cypher grammar, used to lint every statement the graph adapter sends
  (cd tools/cypher-lint && npm ci --no-audit --no-fund --loglevel=error)
  # the JavaScript client example (graphql-ws + ws), run against a live server by the tests
  (cd examples/js && npm ci --no-audit --no-fund --loglevel=error)
  if ! command -v chromium >/dev/null 2>&1; then
    if [[ "$(id -u)" == "0" ]]; then
      (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
        || echo "warning: could not install chromium; the GraphiQL browser test will be skipped" >&2
    else
      echo "warning: chromium missing and not root; the GraphiQL browser test will be skipped" >&2
    fi
  fi
fi
# export the local embedding model to ONNX once (the service's default runtime)
python -m app prepare-model
