# The pip recipe: one Dockerfile for every pip variant in env/variants.toml.
# envkit passes every ARG from that data; the defaults mirror the default
# variant (cu121) and tests/unit/test_dockerfiles.py keeps them equal to it.
# It needs BuildKit (cache and secret mounts) but no `# syntax=` line, so
# Docker 20.10's built-in BuildKit builds it, also with no registry in reach.

# Pinned by digest; refresh with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# Any Debian 12 image with python3 and its venv module works too
# (`invoke base` builds one with debootstrap).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ARG USER_NAME=envkit
ARG USER_UID=1000
ARG USER_GID=1000

# g++ and Python's headers: torch.compile's CPU backend compiles C++ kernels
# that include Python.h, and slim images without them fail there
# (pytorch#116696). python:3.11-slim ships the headers of its own Python;
# Debian's python3 needs libpython3-dev. Packages come from the base's own
# Debian suite, fixed by its digest, so they are not pinned one by one. The CA
# secret is only read for https mirrors behind a TLS-inspecting proxy.
ARG PYTHON=python3
# hadolint ignore=DL3008
RUN --mount=type=cache,id=envkit-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=envkit-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && if [ -s /run/secrets/ca ]; then \
         echo 'Acquire::https::CAInfo "/run/secrets/ca";' >/etc/apt/apt.conf.d/99envkit-ca; fi \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ \
    && headers="$("${PYTHON}" -c 'import sysconfig; print(sysconfig.get_path("include"))')" \
    && if [ ! -f "${headers}/Python.h" ]; then \
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpython3-dev; fi \
    && rm -f /etc/apt/apt.conf.d/99envkit-ca \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# Only the recipe file reaches this layer: editing examples/ or envkit/ never
# reinstalls torch. uv installs the recipe exactly (--no-deps: the file must
# be complete; pip check proves it), with hash checking for hash-locked
# recipes. uv itself comes hash-checked from env/pip/installer.txt into a
# throwaway venv. unsafe-best-match: a recipe naming the pytorch index plus
# PyPI takes each pinned version from whichever index has it, as pip does.
# Bytecode is compiled with hash-based invalidation so rebuilds are
# byte-identical and imports stay fast for the non-root user.
ARG REQUIRE_HASHES=true
ARG REQUIREMENTS=env/pip/cu121.txt
COPY env/pip/installer.txt /opt/envkit/installer.txt
COPY ${REQUIREMENTS} /opt/envkit/requirements.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca PIP_CERT=/run/secrets/ca; fi \
    && "${PYTHON}" -m venv /tmp/installer \
    && /tmp/installer/bin/pip install --quiet --require-hashes --no-deps -r /opt/envkit/installer.txt \
    && "${PYTHON}" -m venv --without-pip /opt/venv \
    && UV_REQUIRE_HASHES="${REQUIRE_HASHES}" UV_LINK_MODE=copy UV_INDEX_STRATEGY=unsafe-best-match \
       UV_PYTHON_DOWNLOADS=never /tmp/installer/bin/uv pip install --python /opt/venv/bin/python \
       --no-deps -r /opt/envkit/requirements.txt \
    && rm -rf /tmp/installer \
    && python -m pip check \
    && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv/lib >/dev/null

# Build-time guard: fail unless the installed torch is the variant asked for.
ARG TORCH_VERSION=2.4.1
ARG TORCHVISION_VERSION=0.19.1
ARG TORCHAUDIO_VERSION=2.4.1
ARG PYTHON_VERSION=3.11
ARG CUDA_VERSION=12.1
COPY docker/check_variant.py /opt/envkit/check_variant.py
RUN python /opt/envkit/check_variant.py

ARG VARIANT=cu121-pip
ENV PYTORCH_VERSION=${TORCH_VERSION} \
    TORCHVISION_VERSION=${TORCHVISION_VERSION} \
    TORCHAUDIO_VERSION=${TORCHAUDIO_VERSION} \
    ENVKIT_VARIANT=${VARIANT}

COPY examples/ /opt/envkit/examples/
WORKDIR /workspace
USER ${USER_UID}:${USER_GID}
CMD ["bash"]

# Last, so that a new revision or date never invalidates a layer above.
ARG BASE_IMAGE
ARG RECIPE=pip
ARG PLATFORM=cu121
ARG SOURCE=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="torch-env" \
      org.opencontainers.image.description="PyTorch ${TORCH_VERSION} environment (${VARIANT})" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.version="${TORCH_VERSION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.envkit.variant="${VARIANT}" \
      io.envkit.recipe="${RECIPE}" \
      io.envkit.platform="${PLATFORM}"
