#!/bin/bash
# Facts about haproxy on the lb node, in "==> SECTION" blocks.
# Usage: haproxy-facts.sh API_PORT CONTROLLER_IP...
set -u
port=$1
shift
section() { printf '\n==> %s\n' "$1"; }

section installed
haproxy -v 2>&1 | head -n 1
section config-check
haproxy -c -f /etc/haproxy/haproxy.cfg 2>&1 | tail -n 5
echo "exit=${PIPESTATUS[0]}"
section active
systemctl is-active haproxy 2>&1
section listen
ss -Hltn "sport = :$port"
section stat
if command -v socat >/dev/null; then
  # Right after a (re)start haproxy reports every server UP with check status INI until its first
  # health check ends: wait (up to ~20 s) for real results rather than report that optimism.
  for _ in $(seq 20); do
    stat=$(echo "show stat" | socat -t 5 stdio unix-connect:/run/haproxy/admin.sock 2>&1)
    grep -Eq ',(\* )?INI,' <<<"$stat" || break
    sleep 1
  done
  printf '%s\n' "$stat"
else
  echo "socat is not installed: cannot read the stats socket"
fi
# Whether anything accepts TCP on each API server's port (tells "no API server" from "not ready").
section backend-ports
for ip in "$@"; do
  if timeout 3 bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then
    echo "$ip open"
  else
    echo "$ip closed"
  fi
done
# The sections above carry the results; the script itself always succeeds.
exit 0
