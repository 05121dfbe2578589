#!/bin/sh
# The Debian packages a pip image adds to its base, in one place: the system
# step of docker/pip.Dockerfile installs them, and `invoke wheelhouse` runs
# this same script in a container of the base to download them for an
# offline build.
#
# g++ and Python's headers: torch.compile's CPU backend compiles C++ kernels
# that include Python.h, and slim images without them fail there
# (pytorch#116696). python:3.11-slim ships the headers of its own Python;
# Debian's python3 needs libpython3-dev. Packages come from the base's own
# Debian suite, fixed by its digest, so they are not pinned one by one. The CA
# secret is read only for https mirrors behind a TLS-inspecting proxy.
#
# Usage: system-packages.sh install | download DIR     (PYTHON: the base's python, default python3)
set -eu
mode="${1:-}"
if [ -s /run/secrets/ca ]; then
  echo 'Acquire::https::CAInfo "/run/secrets/ca";' >/etc/apt/apt.conf.d/99envkit-ca
fi
apt-get update -qq
packages="g++"
headers="$("${PYTHON:-python3}" -c 'import sysconfig; print(sysconfig.get_path("include"))')"
[ -f "${headers}/Python.h" ] || packages="${packages} libpython3-dev"
case "${mode}" in
  install)
    # shellcheck disable=SC2086  # a list of package names
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages} ;;
  download)
    # shellcheck disable=SC2086
    apt-get install -qq -y --download-only --no-install-recommends -o Dir::Cache::archives="$2" ${packages}
    rm -rf "$2/partial" "$2/lock" ;;
  *)
    echo "usage: $0 install | download DIR" >&2
    exit 2 ;;
esac
rm -f /etc/apt/apt.conf.d/99envkit-ca
