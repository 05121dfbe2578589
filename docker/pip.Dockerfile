# The pip recipe: one Dockerfile for every pip variant in env/variants.toml.
# envkit passes every ARG from that data; the defaults mirror the default
# variant (cu121) and tests/unit/test_dockerfiles.py keeps them equal to it.
# It needs BuildKit (cache, secret and bind mounts) but no `# syntax=` line,
# so Docker 20.10's built-in BuildKit builds it, also with no registry in reach.
#
# INSTALL_FROM picks where packages come from: `index` (the network: Debian's
# mirror, the package indexes) or `wheelhouse` (a folder `invoke wheelhouse`
# filled: .debs, the installer and every locked wheel; no network at all).
# BuildKit builds only the stages the choice needs.

# Pinned by digest; refresh with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# Any Debian 12 image with python3 and its venv module works too
# (`invoke base` builds one with debootstrap).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
ARG INSTALL_FROM=index
# Defaults for every stage (an ARG reaches a stage only where it is declared).
ARG PYTHON=python3
ARG USER_NAME=envkit
ARG USER_UID=1000
ARG USER_GID=1000
ARG REQUIRE_HASHES=true

FROM ${BASE_IMAGE} AS base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# The system step: g++ and Python's headers for torch.compile, from
# docker/system-packages.sh (the one list, which `invoke wheelhouse` also
# downloads for offline builds), and the non-root user.
FROM base AS system-index
ARG PYTHON
ARG USER_NAME
ARG USER_UID
ARG USER_GID
RUN --mount=type=cache,id=envkit-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=envkit-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=docker/system-packages.sh,target=/opt/envkit-build/system-packages.sh \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && PYTHON="${PYTHON}" sh /opt/envkit-build/system-packages.sh install \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace

# The same packages from the wheelhouse's debs/ (downloaded for this base).
FROM base AS system-wheelhouse
ARG USER_NAME
ARG USER_UID
ARG USER_GID
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    DEBIAN_FRONTEND=noninteractive dpkg --install --skip-same-version /wheelhouse/debs/*.deb \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace

# Only the recipe file reaches the install layer: editing examples/ or envkit/
# never reinstalls torch. uv installs the recipe exactly (--no-deps: the file
# must be complete; pip check proves it), wheels only (--no-build: a lock also
# lists sdist hashes, and a wheel that fails its hash must stop the build, not
# fall back to compiling the sdist), with hash checking for hash-locked
# recipes. uv itself comes hash-checked from env/pip/installer.txt into a
# throwaway venv. unsafe-best-match: a recipe naming the pytorch index plus
# PyPI takes each pinned version from whichever index has it, as pip does.
# INDEX_URL / EXTRA_INDEX_URL, when set, replace the recipe's indexes (mirrors).
# (A stage of this file, chosen by INSTALL_FROM: not an image to pin.)
# hadolint ignore=DL3006
FROM system-${INSTALL_FROM} AS system
ARG REQUIREMENTS=env/pip/cu121.txt
COPY env/pip/installer.txt /opt/envkit/installer.txt
COPY ${REQUIREMENTS} /opt/envkit/requirements.txt

FROM system AS env-index
ARG PYTHON
ARG REQUIRE_HASHES
ARG INDEX_URL=""
ARG EXTRA_INDEX_URL=""
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export SSL_CERT_FILE=/run/secrets/ca PIP_CERT=/run/secrets/ca; fi \
    && if [ -n "${INDEX_URL}" ]; then export UV_INDEX_URL="${INDEX_URL}" PIP_INDEX_URL="${INDEX_URL}"; fi \
    && if [ -n "${EXTRA_INDEX_URL}" ]; then export UV_EXTRA_INDEX_URL="${EXTRA_INDEX_URL}"; fi \
    && "${PYTHON}" -m venv /tmp/installer \
    && /tmp/installer/bin/pip install --quiet --require-hashes --only-binary :all: --no-deps \
       -r /opt/envkit/installer.txt \
    && "${PYTHON}" -m venv --without-pip /opt/venv \
    && UV_REQUIRE_HASHES="${REQUIRE_HASHES}" UV_LINK_MODE=copy UV_INDEX_STRATEGY=unsafe-best-match \
       UV_PYTHON_DOWNLOADS=never /tmp/installer/bin/uv pip install --python /opt/venv/bin/python \
       --no-deps --no-build -r /opt/envkit/requirements.txt \
    && rm -rf /tmp/installer

# The same install from the wheelhouse's wheels/, with no index at all.
FROM system AS env-wheelhouse
ARG PYTHON
ARG REQUIRE_HASHES
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    "${PYTHON}" -m venv /tmp/installer \
    && /tmp/installer/bin/pip install --quiet --no-index --find-links /wheelhouse/wheels --require-hashes \
       --no-deps -r /opt/envkit/installer.txt \
    && "${PYTHON}" -m venv --without-pip /opt/venv \
    && UV_REQUIRE_HASHES="${REQUIRE_HASHES}" UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
       /tmp/installer/bin/uv pip install --python /opt/venv/bin/python --offline --no-index \
       --find-links /wheelhouse/wheels --no-deps --no-build -r /opt/envkit/requirements.txt \
    && rm -rf /tmp/installer

# Bytecode with hash-based invalidation, byte-identical across rebuilds and
# fast to import for the non-root user. -f: the interpreter running compileall
# has already imported setuptools' _distutils_hack (a .pth file does it at
# every start) and left a timestamped .pyc; -f rewrites it too.
# hadolint ignore=DL3006
FROM env-${INSTALL_FROM} AS env
RUN python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/venv/lib >/dev/null \
    && python -m pip check

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
ARG USER_UID
ARG USER_GID
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
