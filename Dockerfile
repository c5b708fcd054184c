# syntax=docker/dockerfile:1
#
# personamap's image: one image for the web service (`personamap serve`, the default command), the
# stream consumer (`personamap stream`), the pipeline (`dagster-daemon`, `dagster-webserver`) and
# every CLI command: `docker run --rm personamap personamap --help`. No entrypoint, so that each
# role names its program.
#
#   docker build -t personamap .                        # runtime (the default target)
#   docker build --target spark -t personamap-spark .   # + PySpark and a Java runtime, for
#                                                       #   `personamap assign --engine spark`
#   docker build --target mlflow-server -t personamap-mlflow .   # the MLflow tracking server
#
# The project is installed the way the README installs it (`pip install` of this source tree,
# from pyproject.toml, after upgrading pip in a fresh virtualenv), only not editable and without
# the dev tools; tests/unit/test_deploy.py keeps the two in step.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    PERSONAMAP_HOME=/var/lib/personamap \
    MLFLOW_DISABLE_TELEMETRY=true
# A fixed, numeric uid/gid (USER 10001 lets an orchestrator verify it is not root), so that
# volumes and bind mounts can be given to it: chown 10001:10001.
RUN groupadd --system --gid 10001 personamap \
    && useradd --system --uid 10001 --gid personamap --home-dir /var/lib/personamap \
       --no-create-home --shell /usr/sbin/nologin personamap \
    && install -d -o personamap -g personamap -m 0750 \
       /var/lib/personamap /var/lib/personamap/inbox /var/lib/personamap/reports \
       /var/lib/personamap/dagster /var/lib/personamap/cache

FROM base AS builder
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY src ./src
# The pip cache survives between builds, so a code change does not download every wheel again.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install --quiet --upgrade pip \
    && /opt/venv/bin/pip install --quiet .

FROM builder AS builder-spark
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install --quiet '.[spark]'

# The tracking server uses personamap's own MLflow (so server and clients are the same version)
# plus the Google Cloud Storage client for a gs:// artifact destination.
FROM builder AS builder-mlflow
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/venv/bin/pip install --quiet 'google-cloud-storage>=2.16,<4'

FROM base AS mlflow-server
RUN install -d -o personamap -g personamap -m 0750 /var/lib/mlflow /var/lib/mlflow/artifacts
COPY --from=builder-mlflow /opt/venv /opt/venv
# No job runner and its huey workers: personamap does not use MLflow jobs (5 processes, not 13).
ENV MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
WORKDIR /var/lib/mlflow
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]

FROM base AS spark
# PySpark 4 runs its driver on a Java 17 virtual machine; the PostgreSQL JDBC driver lets Spark
# read the customer table itself (`--input jdbc:postgresql://...`). Not pinned: bookworm's
# security updates replace the exact versions, and a pin would then fail the build.
# (The man folder: the JRE's post-install registers manual pages, which slim images leave out.)
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install --yes --no-install-recommends openjdk-17-jre-headless libpostgresql-jdbc-java \
    && rm -rf /var/lib/apt/lists/* \
    && install -d /etc/spark \
    && printf 'spark.jars /usr/share/java/postgresql.jar\n' > /etc/spark/spark-defaults.conf
COPY --from=builder-spark /opt/venv /opt/venv
# Spark settings (master, driver address and ports for a cluster) go in
# $SPARK_CONF_DIR/spark-defaults.conf: mount your own /etc/spark, keeping the spark.jars line.
# Executors started from this image use the same Python, with personamap installed.
ENV SPARK_CONF_DIR=/etc/spark \
    PYSPARK_PYTHON=/opt/venv/bin/python
WORKDIR /var/lib/personamap
USER 10001:10001
CMD ["personamap", "assign", "--help"]

FROM base AS runtime
COPY --from=builder /opt/venv /opt/venv
# The service listens on every interface of its container (the default is loopback only).
ENV PERSONAMAP_SERVE_HOST=0.0.0.0 \
    PERSONAMAP_SERVE_PORT=8000
WORKDIR /var/lib/personamap
USER 10001:10001
EXPOSE 8000
# For the web service; the compose stack gives the other roles of this image their own checks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PERSONAMAP_SERVE_PORT', '8000'), timeout=4)"]
CMD ["personamap", "serve"]
