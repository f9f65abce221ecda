# The Grekko image: the library, `grekko` and `grekko-live`, MLflow, Ray and the Kafka client,
# as every Deployment and Job of deploy/ runs it (docs/deploy.md).
#   docker build -t grekko:dev .
# The extras installed: kafka (the event-log export) and ray (distributed sweeps and grids).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=kafka,ray
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY grekko_research ./grekko_research
COPY strategies ./strategies
COPY live ./live
RUN pip install ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
# The runners' volumes are the grekko user's (runAsUser / fsGroup 1000 in deploy/base).
RUN groupadd --gid 1000 grekko \
    && useradd --uid 1000 --gid 1000 --home-dir /var/lib/grekko --create-home grekko
COPY --from=build /opt/venv /opt/venv
COPY conf /opt/grekko/conf
COPY experiments /opt/grekko/experiments
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GREKKO_CONF_DIR=/opt/grekko/conf \
    GREKKO_HOME=/var/lib/grekko \
    NUMBA_CACHE_DIR=/var/lib/grekko/.cache/numba
WORKDIR /var/lib/grekko
USER 1000:1000
# The status API's port (grekko-live api --host 0.0.0.0 --port 8000).
EXPOSE 8000
ENTRYPOINT []
CMD ["grekko-live", "--help"]
