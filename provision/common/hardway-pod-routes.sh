#!/bin/bash
# Installs the routes listed in /etc/hardway/pod-routes (or the file given as $1).
# Idempotent: `ip route replace` adds a missing route and corrects a wrong one, so it is safe to
# run at every boot and again by hand.
set -euo pipefail

routes_file="${1:-/etc/hardway/pod-routes}"
line_number=0
while IFS= read -r line || [ -n "$line" ]; do
  line_number=$((line_number + 1))
  line="${line%%#*}"
  read -r destination keyword gateway extra <<<"$line" || true
  [ -z "${destination:-}" ] && continue
  if [ "${keyword:-}" != "via" ] || [ -z "${gateway:-}" ] || [ -n "${extra:-}" ]; then
    echo "hardway-pod-routes: ${routes_file}:${line_number}: expected \"DESTINATION via GATEWAY\", found: ${line}" >&2
    exit 1
  fi
  ip route replace "$destination" via "$gateway"
  echo "hardway-pod-routes: ${destination} via ${gateway}"
done <"$routes_file"
