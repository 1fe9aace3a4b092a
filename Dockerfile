# One image for every QMS Trail service; the compose file (or the Kubernetes manifests) picks
# the entry point. The dependencies come from requirements.lock (pinned, with hashes), the
# service itself from a wheel that carries what it reads from deploy/.

FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir setuptools==84.2.1
COPY pyproject.toml setup.py README.md ./
COPY schemas ./schemas
COPY services ./services
COPY deploy ./deploy
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11.7-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 QMS_DATA_DIR=/var/lib/qms
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 qms && mkdir -p /var/lib/qms && chown qms /var/lib/qms
# No checkout in this image: the code finds topics and migrations in the installed package.
WORKDIR /var/lib/qms
USER qms
ENTRYPOINT ["qms"]
