# readyz TIMEOUT_S: the local API server's /readyz — "ok", or the failing checks (the [-] lines it
# lists when not ready). /readyz is open to anonymous clients (the system:public-info-viewer role),
# and curl starts in a fraction of kubectl's time, which matters on a slow VM.
# A function library: the engine sends this file ahead of the facts scripts that call it.
readyz() { curl -sS --max-time "$1" --cacert /var/lib/kubernetes/ca.crt https://127.0.0.1:6443/readyz 2>&1 | grep -E '^ok$|^\[-\]|^curl|failed' | head -n 8; }
