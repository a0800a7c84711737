#!/usr/bin/env bash
# Installs what the test suite runs against: real nginx (the differential oracle), php8.2-fpm,
# uWSGI with Python 3 and memcached (real FastCGI, uwsgi, SCGI and memcached backends), openssl
# (test certificates), the packaging tools (dpkg-deb, rpmbuild, lintian), tmux (the wizard's
# terminal test), then the project's npm dependencies. Debian 12, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt_packages=(nginx php8.2-fpm uwsgi-core uwsgi-plugin-python3 memcached openssl curl dpkg-dev rpm lintian fakeroot tmux)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  for i in 1 2 3; do apt-get update -q -o APT::Update::Error-Mode=any && break; sleep 5; done
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
npm ci --no-audit --no-fund
