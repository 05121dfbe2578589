#!/bin/sh
# What installing Debian packages leaves behind that holds the time it ran,
# and nothing an image uses: the logs of dpkg, apt and update-alternatives,
# and ldconfig's cache of library file times (rebuilt when ldconfig next
# runs). Two builds of the same packages differed only there, in the system
# layer, so the image digests differed though BuildKit rewrites file times
# to SOURCE_DATE_EPOCH. The logs are emptied, not removed, as Debian's own
# images leave them (debuerreotype). Every step that installs packages runs
# this last.
set -eu
for log in /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/history.log /var/log/apt/term.log; do
  if [ -f "${log}" ]; then : >"${log}"; fi
done
rm -f /var/cache/ldconfig/aux-cache
