#!/bin/bash
# Facts about the etcd member on this controller, in "==> SECTION" blocks.
# Usage: etcd-member-facts.sh OWN_IP
set -u
ip=$1
section() { printf '\n==> %s\n' "$1"; }
tls="--cacert=/etc/etcd/ca.crt"

section active
systemctl is-active etcd 2>&1
section version
/usr/local/bin/etcd --version 2>&1 | head -n 1
# A client speaking plain HTTP must get nothing: the client port is TLS only.
section plain-http
timeout 20 etcdctl --endpoints="http://$ip:2379" --dial-timeout=2s --command-timeout=3s endpoint health 2>&1 | tail -n 2
echo "exit=${PIPESTATUS[0]}"
# A TLS client without a certificate must be refused too (--client-cert-auth).
section no-client-cert
timeout 20 etcdctl --endpoints="https://$ip:2379" $tls --dial-timeout=2s --command-timeout=3s endpoint health 2>&1 | tail -n 2
echo "exit=${PIPESTATUS[0]}"
# The sections above carry the results; the script itself always succeeds.
exit 0
