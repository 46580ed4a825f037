# syntax=docker/dockerfile:1
# WikiStream: one image, every role is a command (docs/operations.md#deploy):
#   produce --source live --to kafka://…/recentchange     the ingest edge
#   run --no-process --source kafka://…?group=bronze      a bronze worker (scale to partitions)
#   run --source kafka://…?group=bronze                   bronze worker + silver/gold (lease)
#   serve                                                  the dashboard, API, /metrics
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t wikistream .
# (pure Python; every native dependency is a wheel for both, so no emulated compiling).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# make: the image installs with the Makefile step CI tests (make runtime), pinned by the lock.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml requirements.lock Makefile README.md ./
COPY src ./src
RUN make runtime VENV=/opt/wikistream PYTHON=python3

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="WikiStream" \
      org.opencontainers.image.description="The Wikimedia edit stream as an exactly-once Iceberg lakehouse" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 wikistream \
    && useradd --system --uid 10001 --gid wikistream --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin wikistream \
    && mkdir -p /data /etc/wikistream \
    && chown wikistream:wikistream /data
COPY --from=build /opt/wikistream /opt/wikistream
# Configuration: WIKISTREAM_* variables and an optional TOML file mounted at
# /etc/wikistream/wikistream.toml (WIKISTREAM_CONFIG); secrets only as variables or files.
ENV PATH=/opt/wikistream/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WIKISTREAM_WAREHOUSE=/data/warehouse \
    WIKISTREAM_WEB__HOST=0.0.0.0 \
    WIKISTREAM_WEB__PORT=8765
USER 10001:10001
WORKDIR /data
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['WIKISTREAM_WEB__PORT'], timeout=4)"]
ENTRYPOINT ["wikistream"]
CMD ["serve"]
