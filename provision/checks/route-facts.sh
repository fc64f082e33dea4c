#!/bin/bash
# Facts for the pod-routes checker, in "==> SECTION" blocks.
set -u
section() { printf '\n==> %s\n' "$1"; }
section routes
ip -o -4 route show
section enabled
systemctl is-enabled hardway-pod-routes 2>&1
# The sections above carry the results; the script itself always succeeds.
exit 0
