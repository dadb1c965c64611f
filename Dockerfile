# One image for every Vigil process: `docker run vigil ingest|streams|sinks|notifier|api`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, so a code change doesn't reinstall them.
COPY pyproject.toml ./
RUN mkdir kernel ingest streams sinks notifier schemas api infra \
 && pip install --no-cache-dir . \
 && pip uninstall -y vigil
COPY kernel kernel
COPY ingest ingest
COPY streams streams
COPY sinks sinks
COPY notifier notifier
COPY schemas schemas
COPY api api
COPY infra infra
RUN pip install --no-cache-dir --no-deps . \
 && useradd --system --create-home --uid 10001 vigil \
 && mkdir -p /var/lib/vigil && chown vigil /var/lib/vigil

USER vigil
# The Faust worker keeps its local data here (its state itself lives in Kafka changelogs).
ENV VIGIL_DATA_DIR=/var/lib/vigil/streams
ENTRYPOINT ["vigil"]
