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
# downloads for offline builds), less the files docker/dpkg.cfg names,
# and the non-root user. Nothing in the layer may hold the day it was built,
# or a rebuild's digest differs: the install's logs and caches go
# (docker/forget-install-times.sh), and the user's password has no last-change
# day (useradd writes today's; the account has no password to age).
FROM base AS system-index
ARG PYTHON
ARG USER_NAME
ARG USER_UID
ARG USER_GID
RUN --mount=type=cache,id=envkit-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=envkit-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=docker/system-packages.sh,target=/opt/envkit-build/system-packages.sh \
    --mount=type=bind,source=docker/dpkg.cfg,target=/etc/dpkg/dpkg.cfg.d/envkit \
    --mount=type=bind,source=docker/forget-install-times.sh,target=/opt/envkit-build/forget-install-times.sh \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && PYTHON="${PYTHON}" sh /opt/envkit-build/system-packages.sh install \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && chage --lastday -1 "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace \
    && sh /opt/envkit-build/forget-install-times.sh

# The same packages from the wheelhouse's debs/ (downloaded for this base).
FROM base AS system-wheelhouse
ARG USER_NAME
ARG USER_UID
ARG USER_GID
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=docker/dpkg.cfg,target=/etc/dpkg/dpkg.cfg.d/envkit \
    --mount=type=bind,source=docker/forget-install-times.sh,target=/opt/envkit-build/forget-install-times.sh \
    DEBIAN_FRONTEND=noninteractive dpkg --install --skip-same-version /wheelhouse/debs/*.deb \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && chage --lastday -1 "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace \
    && sh /opt/envkit-build/forget-install-times.sh

# The installer: uv, hash-checked from env/pip/installer.txt into a venv of
# its own that every install step mounts and none leaves in the image. It
# does not need the system step, so BuildKit runs it beside apt. pip ignores
# a plain-http index unless told to trust its host: a mirror given as
# http:// (a LAN devpi) is trusted because the team named it.
FROM base AS installer-index
ARG PYTHON
ARG INDEX_URL=""
COPY env/pip/installer.txt /opt/envkit/installer.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && if [ -n "${INDEX_URL}" ]; then export PIP_INDEX_URL="${INDEX_URL}"; fi \
    && case "${INDEX_URL}" in http://*) host="${INDEX_URL#http://}"; export PIP_TRUSTED_HOST="${host%%/*}";; esac \
    && "${PYTHON}" -m venv /opt/installer \
    && /opt/installer/bin/pip install --quiet --require-hashes --only-binary :all: --no-deps \
       -r /opt/envkit/installer.txt

FROM base AS installer-wheelhouse
ARG PYTHON
COPY env/pip/installer.txt /opt/envkit/installer.txt
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    "${PYTHON}" -m venv /opt/installer \
    && /opt/installer/bin/pip install --quiet --no-index --find-links /wheelhouse/wheels --require-hashes \
       --no-deps -r /opt/envkit/installer.txt

# Where the install steps take packages from: nothing (the indexes, through
# the cache mount) or the wheelhouse's wheels, copied once for all six steps.
FROM scratch AS packages-index
COPY env/pip/installer.txt /no-wheelhouse

FROM scratch AS packages-wheelhouse
COPY wheelhouse/wheels/ /wheels/

# hadolint ignore=DL3006
FROM installer-${INSTALL_FROM} AS installer
# hadolint ignore=DL3006
FROM packages-${INSTALL_FROM} AS packages

# The recipe split into the six layers of docker/env_layers (CUDA
# libraries first, the often-bumped rest last), after every wheel of it is
# downloaded at once (hash-checked, from the recipe's indexes or INDEX_URL /
# EXTRA_INDEX_URL, mirrors) into a folder on the cache mount, beside the
# system step. Every install step below copies only its own part: BuildKit
# keys a COPY by the content copied, so a one-pin change in the lock reruns
# only the step of the layer that holds that package (and the ones after
# it). ENV_LAYERS=single puts everything in the last step: the one-layer
# install it must equal.
FROM base AS layers
ARG PYTHON
ARG REQUIREMENTS=env/pip/cu121.txt
ARG ENV_LAYERS=split
ARG INSTALL_FROM
ARG REQUIRE_HASHES
ARG INDEX_URL=""
ARG EXTRA_INDEX_URL=""
COPY ${REQUIREMENTS} /opt/envkit-build/requirements.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    /opt/installer/bin/python /opt/envkit-build/env_layers prefetch /opt/envkit-build/requirements.txt \
    && "${PYTHON}" /opt/envkit-build/env_layers split /opt/envkit-build/requirements.txt /layers "${ENV_LAYERS}"

# uv installs each part exactly (--no-deps: the lock must be complete; pip
# check proves it), wheels only (--no-build), hash-checked for hash-locked
# recipes, from the wheels the layers stage fetched (or the wheelhouse's),
# served on the loopback. A step that finds its wheels gone from the cache
# mount (BuildKit emptied it and kept the layers step) fetches them again,
# hence the CA secret. Its scratch cache sits on the image's file system, so a
# wheel is unpacked once and hard-linked into the venv. Each step compiles
# the bytecode of what it installed, hash-based (byte-identical across
# rebuilds), so that no step rewrites a file of an earlier layer.
# (A stage of this file, chosen by INSTALL_FROM: not an image to pin.)
# hadolint ignore=DL3006
FROM system-${INSTALL_FROM} AS env
ARG PYTHON
ARG REQUIRE_HASHES
ARG INSTALL_FROM
RUN "${PYTHON}" -m venv --without-pip /opt/venv
COPY --from=layers /layers/1.txt /opt/envkit/layers/1.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 1
COPY --from=layers /layers/2.txt /opt/envkit/layers/2.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 2
COPY --from=layers /layers/3.txt /opt/envkit/layers/3.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 3
COPY --from=layers /layers/4.txt /opt/envkit/layers/4.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 4
COPY --from=layers /layers/5.txt /opt/envkit/layers/5.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 5
COPY --from=layers /layers/6.txt /opt/envkit/layers/6.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,from=packages,target=/wheelhouse \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    "${PYTHON}" /opt/envkit-build/env_layers install 6 \
    && "${PYTHON}" /opt/envkit-build/env_layers check
ARG REQUIREMENTS=env/pip/cu121.txt
COPY ${REQUIREMENTS} /opt/envkit/requirements.txt

# Build-time guard: fail unless the installed torch is the variant asked for.
ARG TORCH_VERSION=2.4.1
ARG TORCHVISION_VERSION=0.19.1
ARG TORCHAUDIO_VERSION=2.4.1
ARG PYTHON_VERSION=3.11
ARG CUDA_VERSION=12.1
ARG MACHINE=x86_64
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
ARG ARCH=amd64
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
      io.envkit.platform="${PLATFORM}" \
      io.envkit.arch="${ARCH}"
