#!/bin/bash
# Facts for the control-plane checker on one controller, in "==> SECTION" blocks. Every section
# ends with a newline (kubectl get --raw prints "ok" without one).
# Needs unit_health and readyz (lib-unit-health.sh, lib-apiserver.sh: sent ahead of this script).
# Usage: control-plane-facts.sh
set -u
section() { printf '\n==> %s\n' "$1"; }
kc="kubectl --kubeconfig /root/admin.kubeconfig --request-timeout=10s"

unit_health kube-apiserver kube-controller-manager kube-scheduler
# The running server's version (/version is open to anonymous clients), else the installed binary's.
section version
version=$(curl -sS --max-time 15 --cacert /var/lib/kubernetes/ca.crt https://127.0.0.1:6443/version 2>/dev/null | grep -o '"gitVersion": *"[^"]*"')
if [ -n "$version" ]; then echo "$version"; else kube-apiserver --version 2>&1 | head -n 1; fi
# Under heavy load (a slow VM) a ready server can miss one check: ask up to three times.
section readyz
for try in 1 2 3; do answer=$(readyz 15); [ "$answer" = ok ] && break; [ "$try" = 3 ] || sleep 5; done
echo "$answer"
# What the running API server was started with, and the unit files (compared with the lab's).
section apiserver-flags
pid=$(systemctl show kube-apiserver -p MainPID --value 2>/dev/null)
if [ -n "$pid" ] && [ "$pid" != 0 ] && [ -r "/proc/$pid/cmdline" ]; then tr '\0' '\n' <"/proc/$pid/cmdline" | grep -E '^--(encryption-provider-config|etcd-servers|advertise-address)='; fi
section unit-files
sha256sum /etc/systemd/system/kube-apiserver.service /etc/systemd/system/kube-controller-manager.service \
  /etc/systemd/system/kube-scheduler.service /etc/kubernetes/config/kube-scheduler.yaml 2>&1
section epoch
date +%s
section leases
$kc -n kube-system get lease kube-controller-manager kube-scheduler \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.holderIdentity} {.spec.renewTime}{"\n"}{end}' 2>&1
# The sections above carry the results; the script itself always succeeds.
exit 0
