#!/bin/bash
# Brings systemd units to "enabled and active" without needless restarts, so a step that already
# ran changes nothing when it runs again.
# Usage: ensure-services.sh [--daemon-reload] UNIT[:restart]...
#   --daemon-reload   unit files changed: make systemd read them again first
#   UNIT              enable it; start it only when it is not active
#   UNIT:restart      enable it and restart it (its binary, unit or configuration changed)
set -euo pipefail

if [ "${1:-}" = "--daemon-reload" ]; then
  systemctl daemon-reload
  shift
fi

for wish in "$@"; do
  unit=${wish%%:*}
  action=ensure
  [ "$wish" != "$unit" ] && action=${wish#*:}
  if [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" != "enabled" ]; then
    systemctl enable "$unit" 2>&1
  fi
  if [ "$action" = "restart" ]; then
    echo "restarting $unit (its files changed)"
    systemctl reset-failed "$unit" 2>/dev/null || true
    systemctl restart "$unit"
  elif systemctl is-active --quiet "$unit"; then
    echo "$unit is already active"
  else
    echo "starting $unit ($(systemctl is-active "$unit" 2>/dev/null || true))"
    systemctl reset-failed "$unit" 2>/dev/null || true
    systemctl start "$unit"
  fi
done
