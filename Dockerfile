# syntax=docker/dockerfile:1
# AgentMem: three stages.
#   model   - torch (CPU) exports all-MiniLM-L6-v2 to ONNX once; torch never reaches the image
#   build   - the runtime virtualenv (hnswlib compiled portably) and GraphiQL's browser assets
#   runtime - slim Python, a non-root user, the venv, the source, the ONNX model
# Build:  docker build -t agentmem .      Run: see docker-compose.yml and docs/deploy.md
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# torch's CPU wheels; the default PyPI wheel for Linux pulls several GB of CUDA libraries
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

FROM ${PYTHON_IMAGE} AS model
ARG TORCH_INDEX
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 HNSWLIB_NO_NATIVE=1 HF_HUB_OFFLINE=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# torch first and pinned, so the torch extra below resolves to this CPU build
RUN pip install "torch==2.13.0" --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md ./
COPY app ./app
COPY memory ./memory
COPY graph ./graph
COPY vector ./vector
COPY history ./history
COPY migrations ./migrations
RUN pip install ".[torch]"
RUN python -m app prepare-model --set embedder.cache_dir=/opt/models

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 HNSWLIB_NO_NATIVE=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/agentmem
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY memory ./memory
COPY graph ./graph
COPY vector ./vector
COPY history ./history
COPY migrations ./migrations
# editable: the venv points at /opt/agentmem, which the runtime stage copies to the same path
RUN pip install -e .
# browser assets (GraphiQL, Swagger UI) from their lockfiles, served locally
RUN (cd app/static/graphiql && npm ci --no-audit --no-fund --loglevel=error) \
    && (cd app/static/apidocs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/agentmem --shell /usr/sbin/nologin agentmem \
    && mkdir -p /var/lib/agentmem && chown agentmem:agentmem /var/lib/agentmem
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/agentmem /opt/agentmem
COPY --from=model /opt/models /opt/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AGENTMEM_HOST=0.0.0.0 \
    AGENTMEM_PORT=8000 \
    AGENTMEM_DATA_DIR=/var/lib/agentmem \
    AGENTMEM_LOG_FORMAT=json \
    AGENTMEM_EMBEDDER__CACHE_DIR=/opt/models
WORKDIR /opt/agentmem
USER agentmem
VOLUME ["/var/lib/agentmem"]
EXPOSE 8000
# liveness only: readiness (/health/ready) is for load balancers, not for restarting the container
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('AGENTMEM_PORT', '8000'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health/live', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["python", "-m", "app"]
CMD ["serve"]
