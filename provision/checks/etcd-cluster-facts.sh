#!/bin/bash
# The cluster as etcd itself sees it, over mutual TLS, in "==> SECTION" blocks (JSON from etcdctl,
# then whatever it printed on stderr).
# Usage: etcd-cluster-facts.sh ENDPOINTS [COMMAND_TIMEOUT_S]
#   ENDPOINTS: comma-separated https://IP:2379 of every member; the timeout (default 5) is longer on
#   software-emulated VMs, where a healthy member may need several seconds to commit.
set -u
endpoints=$1
command_timeout=${2:-5}
section() { printf '\n==> %s\n' "$1"; }
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

ask() {
  timeout $((command_timeout * 4 + 10)) etcdctl --endpoints="$endpoints" \
    --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key \
    --dial-timeout=3s --command-timeout="${command_timeout}s" "$@" -w json 2>"$errors"
}

for what in "member list" "endpoint health" "endpoint status"; do
  name=${what// /-}
  section "$name"
  # shellcheck disable=SC2086
  ask $what
  echo
  section "$name-stderr"
  grep -v '"level":"warn"' "$errors" | tail -n 5
done
# The sections above carry the results; the script itself always succeeds.
exit 0
