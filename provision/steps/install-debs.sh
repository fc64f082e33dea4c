#!/bin/bash
# Installs Debian packages uploaded to a directory on the node (air-gapped: no apt sources needed),
# keeping configuration files the lab already put in place.
# Usage: install-debs.sh DIR
set -euo pipefail
dir=$1
shopt -s nullglob
debs=("$dir"/*.deb)
if [ ${#debs[@]} -eq 0 ]; then
  echo "no .deb files in $dir" >&2
  exit 1
fi
DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "${debs[@]}"
