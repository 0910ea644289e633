# The cloudtty operator image: the core with its runtime and the chosen plugins.
# Build from the repository root:
#   docker build -f deploy/docker/operator.Dockerfile -t ghcr.io/cloudtty-py/operator:0.1.0 .
# Choose the plugins (directories under plugins/) with --build-arg PLUGINS="nodeport auth webterm".

FROM python:3.11-slim-bookworm AS build
ARG PLUGINS="clusterip nodeport ingress istio auth webterm"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cloudtty_core ./cloudtty_core
COPY plugins ./plugins
# One virtual environment holds everything; the final stage copies it and nothing else.
# $targets is split into words on purpose (globbing is off).
# hadolint ignore=SC2086
RUN python -m venv /opt/cloudtty \
    && set -f \
    && targets="" \
    && for plugin in $PLUGINS; do targets="$targets ./plugins/$plugin"; done \
    && /opt/cloudtty/bin/pip install --no-cache-dir --no-compile ".[runtime]" $targets

FROM python:3.11-slim-bookworm
COPY --from=build /opt/cloudtty /opt/cloudtty
# Runs as a fixed non-root user with a read-only root filesystem: nothing is written at run
# time except to the /tmp volume the chart mounts.
ENV PATH=/opt/cloudtty/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["cloudtty"]
CMD ["run", "--in-cluster"]
