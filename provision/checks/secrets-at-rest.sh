#!/bin/bash
# How every secret is stored in etcd: one line per key, "KEY PREFIX", where PREFIX is the first
# 23 bytes of the stored value (printable characters only). Encrypted values start with
# k8s:enc:aescbc:v1:key1: ; a secret written while the API server had no encryption config starts
# with k8s and protobuf bytes instead.
# Usage: secrets-at-rest.sh ENDPOINTS
set -u
etcdctl_tls() {
  timeout 60 etcdctl --endpoints="$1" --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt \
    --key=/etc/etcd/etcd-server.key --dial-timeout=5s --command-timeout=30s "${@:2}"
}
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
keys=$(etcdctl_tls "$1" get /registry/secrets/ --prefix --keys-only 2>"$errors") || { printf 'ERROR %s\n' "$(grep -v '"level":"warn"' "$errors" | tail -n 1)"; exit 0; }
for key in $keys; do
  printf '%s %s\n' "$key" "$(etcdctl_tls "$1" get "$key" --print-value-only 2>/dev/null | head -c 23 | tr -c '[:print:]' '.')"
done
exit 0
