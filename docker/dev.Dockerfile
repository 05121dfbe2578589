# The dev image of a pip variant: its tested runtime image, unchanged, plus
# the dev layer (JupyterLab, ipykernel, ipywidgets: env/pip/<variant>.dev.txt,
# hash-locked against the runtime lock) and the tools a person needs inside
# (env/variants.toml [recipes.dev]). `invoke build --dev` passes every ARG;
# the defaults mirror the default variant (tests/unit/test_dockerfiles.py).
# Like the runtime Dockerfile it needs BuildKit but no `# syntax=` line.

# The local runtime image `invoke build` made and `invoke test` passed; the
# kit passes its id-checked tag and then checks the dev image's layers
# start with exactly that image's.
ARG RUNTIME_IMAGE=torch-env:cu121-pip
ARG PYTHON=python3
ARG USER_UID=1000
ARG USER_GID=1000

# hadolint ignore=DL3006
FROM ${RUNTIME_IMAGE} AS runtime

# The installer (uv, hash-checked from env/pip/installer.txt) in a venv of
# its own that the install step mounts and the image never holds.
FROM runtime AS installer
ARG PYTHON
# A build stage only: the image's last USER is the unprivileged one below.
# hadolint ignore=DL3002
USER 0:0
COPY env/pip/installer.txt /opt/envkit-build/installer.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache \
    --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && "${PYTHON}" -m venv --clear /opt/installer \
    && /opt/installer/bin/pip install --quiet --require-hashes --only-binary :all: --no-deps \
       -r /opt/envkit-build/installer.txt

FROM runtime AS dev
ARG PYTHON
ARG DEV_DEBIAN_PACKAGES="git openssh-client vim-tiny less"
ARG USER_NAME=envkit
ARG USER_UID
ARG USER_GID
USER 0:0
# The tools, from the base's own Debian suite (fixed by its digest), as in
# docker/system-packages.sh; the CA secret only for an https mirror. The
# user's cache folder exists so that a volume mounted there (the
# devcontainer's caches) starts out owned by the user, not by root.
# hadolint ignore=DL3008
RUN --mount=type=cache,id=envkit-apt-cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,id=envkit-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=docker/forget-install-times.sh,target=/opt/envkit-build/forget-install-times.sh \
    if [ -s /run/secrets/ca ]; then echo 'Acquire::https::CAInfo "/run/secrets/ca";' >/etc/apt/apt.conf.d/99envkit-ca; fi \
    && rm -f /etc/apt/apt.conf.d/docker-clean \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${DEV_DEBIAN_PACKAGES} \
    && rm -f /etc/apt/apt.conf.d/99envkit-ca \
    && install -d -o "${USER_UID}" -g "${USER_GID}" "/home/${USER_NAME}/.cache" "/home/${USER_NAME}/.cache/envkit" \
    && sh /opt/envkit-build/forget-install-times.sh

# The dev layer: every wheel fetched at once (hash-checked, onto the cache
# mount), then installed exactly with uv as the runtime's layers were, and
# refused if any runtime distribution changed; pip check proves the whole
# environment consistent.
ARG DEV_REQUIREMENTS=env/pip/cu121.dev.txt
ARG REQUIRE_HASHES=true
ARG INDEX_URL=""
COPY ${DEV_REQUIREMENTS} /opt/envkit/dev-requirements.txt
RUN --mount=type=cache,id=envkit-pip-cache,target=/root/.cache \
    --mount=type=secret,id=ca \
    --mount=type=bind,from=installer,source=/opt/installer,target=/opt/installer \
    --mount=type=bind,source=docker/env_layers,target=/opt/envkit-build/env_layers \
    /opt/installer/bin/python /opt/envkit-build/env_layers prefetch /opt/envkit/dev-requirements.txt \
    && "${PYTHON}" /opt/envkit-build/env_layers install-dev /opt/envkit/dev-requirements.txt \
    && "${PYTHON}" /opt/envkit-build/env_layers check

# `invoke lab` serves JupyterLab on this port (published on the host's
# loopback only); it and the devcontainer run as the caller.
ENV JUPYTER_PORT=8888
EXPOSE 8888
USER ${USER_UID}:${USER_GID}

# Last, so that a new revision or date never invalidates a layer above.
ARG TORCH_VERSION=2.4.1
ARG VARIANT=cu121-pip-dev
ARG RUNTIME_IMAGE_ID=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="torch-env-dev" \
      org.opencontainers.image.description="PyTorch ${TORCH_VERSION} dev environment (${VARIANT}): JupyterLab on the tested runtime image" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      io.envkit.variant="${VARIANT}" \
      io.envkit.runtime-image="${RUNTIME_IMAGE_ID}"
