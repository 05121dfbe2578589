# The conda recipe: one Dockerfile for every conda variant in env/variants.toml.
# envkit passes every ARG from that data; the defaults mirror the default
# variant (cu121) and tests/unit/test_dockerfiles.py keeps them equal to it.
# It needs BuildKit (cache and secret mounts) but no `# syntax=` line.

# Pinned by digest; refresh with
#   docker buildx imagetools inspect mambaorg/micromamba:1.5.8
# Debian 12 slim with micromamba at /bin/micromamba.
ARG BASE_IMAGE=mambaorg/micromamba:1.5.8@sha256:475730daef12ff9c0733e70092aeeefdf4c373a584c952dac3f7bdb739601990
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
USER 0

ARG USER_NAME=envkit
ARG USER_UID=1000
ARG USER_GID=1000

# g++: torch.compile's CPU backend compiles C++ kernels, and images without a
# compiler fail there (pytorch#116696); the conda env's Python carries its own
# headers. Packages come from the base's Debian suite, fixed by its digest.
# The same user as the pip images, so bind mounts and tools behave alike,
# and the same care that no file holds the day of the build (see the pip
# recipe's system step).
# hadolint ignore=DL3008
RUN --mount=type=cache,id=envkit-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=envkit-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=docker/forget-install-times.sh,target=/opt/envkit-build/forget-install-times.sh \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && if [ -s /run/secrets/ca ]; then \
         echo 'Acquire::https::CAInfo "/run/secrets/ca";' >/etc/apt/apt.conf.d/99envkit-ca; fi \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ \
    && rm -f /etc/apt/apt.conf.d/99envkit-ca \
    && groupadd --gid "${USER_GID}" "${USER_NAME}" \
    && useradd --uid "${USER_UID}" --gid "${USER_GID}" --create-home --shell /bin/bash "${USER_NAME}" \
    && chage --lastday -1 "${USER_NAME}" \
    && install -d -o "${USER_NAME}" -g "${USER_NAME}" /workspace \
    && sh /opt/envkit-build/forget-install-times.sh

ENV ENV_PREFIX=/opt/env \
    PATH=/opt/env/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# Only the recipe reaches this layer: editing examples/ or envkit/ never
# reinstalls torch. The recipe is an explicit lock (`invoke lock --recipe
# conda`: exact URLs and hashes) or, before one exists, the environment file,
# which names its channels (with nodefaults); strict priority keeps each
# package in the first channel that has it. Bytecode is compiled before
# anything imports a module, with hash-based invalidation.
# CONDA_OVERRIDE_CUDA lets the solver pick CUDA builds on a host without a GPU.
ARG ENVIRONMENT=env/conda/cu121.yml
ARG CONDA_OVERRIDE_CUDA=12.1
COPY ${ENVIRONMENT} /opt/envkit/environment.yml
RUN --mount=type=cache,id=envkit-conda-pkgs,target=/opt/conda/pkgs,sharing=locked \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export MAMBA_SSL_VERIFY=/run/secrets/ca; fi \
    && CONDA_OVERRIDE_CUDA="${CONDA_OVERRIDE_CUDA}" micromamba create --yes --prefix /opt/env \
       --file /opt/envkit/environment.yml --strict-channel-priority \
    && python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash /opt/env/lib >/dev/null \
    && python -m pip check

# Build-time guard: fail unless the installed torch is the variant asked for.
ARG TORCH_VERSION=2.4.1
ARG TORCHVISION_VERSION=0.19.1
ARG TORCHAUDIO_VERSION=2.4.1
ARG PYTHON_VERSION=3.11
ARG CUDA_VERSION=12.1
ARG MACHINE=x86_64
COPY docker/check_variant.py /opt/envkit/check_variant.py
RUN python /opt/envkit/check_variant.py

ARG VARIANT=cu121-conda
ENV PYTORCH_VERSION=${TORCH_VERSION} \
    TORCHVISION_VERSION=${TORCHVISION_VERSION} \
    TORCHAUDIO_VERSION=${TORCHAUDIO_VERSION} \
    ENVKIT_VARIANT=${VARIANT}

COPY examples/ /opt/envkit/examples/
WORKDIR /workspace
USER ${USER_UID}:${USER_GID}
# The base's entrypoint activates micromamba's own base env; ours is on PATH.
ENTRYPOINT []
CMD ["bash"]

# Last, so that a new revision or date never invalidates a layer above.
ARG BASE_IMAGE
ARG RECIPE=conda
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
