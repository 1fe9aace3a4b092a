# One image for every QMS Trail service; the compose file picks the entry point.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 QMS_DATA_DIR=/var/lib/qms
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
COPY deploy ./deploy
RUN pip install --no-cache-dir . && useradd --system --uid 10001 qms \
    && mkdir -p /var/lib/qms && chown qms /var/lib/qms
USER qms
ENTRYPOINT ["qms"]
