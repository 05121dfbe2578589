# The plain way `invoke bench` measures the kit against: a venv and one
# `pip install` of the three torch packages, in one RUN, as most projects
# start. Same base image, same versions, same indexes as the kit's build in
# the same run; nothing else. PINS is the bench's one-pin change (e.g.
# filelock==4.2.12), as a plain Dockerfile would add it to its install line.
ARG BASE_IMAGE=python:3.11-slim-bookworm
# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ARG TORCH_VERSION=2.4.1
ARG TORCHVISION_VERSION=0.19.1
ARG TORCHAUDIO_VERSION=2.4.1
ARG INDEX_URL=""
ARG EXTRA_INDEX_URL=""
ARG PINS=""
# hadolint ignore=DL3042,SC2086
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && if [ -n "${INDEX_URL}" ]; then export PIP_INDEX_URL="${INDEX_URL}"; fi \
    && case "${INDEX_URL}" in http://*) host="${INDEX_URL#http://}"; export PIP_TRUSTED_HOST="${host%%/*}";; esac \
    && if [ -n "${EXTRA_INDEX_URL}" ]; then export PIP_EXTRA_INDEX_URL="${EXTRA_INDEX_URL}"; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
       "torchaudio==${TORCHAUDIO_VERSION}" ${PINS}
ENV PATH=/opt/venv/bin:${PATH}
COPY examples/ /opt/envkit/examples/
