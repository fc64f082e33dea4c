#!/bin/bash
# Polled while an API server starts: is it ready (/readyz), and is systemd restarting it?
# Needs unit_health and readyz (lib-unit-health.sh, lib-apiserver.sh: sent ahead of this script).
# Usage: apiserver-ready.sh
set -u
printf '\n==> readyz\n'
readyz 10
unit_health kube-apiserver
exit 0
