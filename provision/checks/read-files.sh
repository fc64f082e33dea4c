#!/bin/bash
# Reads files back from a node for the checkers (certificates, keys, kubeconfigs), which inspect
# them on the host. Usage: read-files.sh PATH...
# For each path prints "==> MODE PATH" then the content as one base64 line, or "==> missing PATH".
set -u
for path in "$@"; do
  if [ -f "$path" ]; then
    printf '==> %s %s\n' "$(stat -c %a -- "$path")" "$path"
    base64 -w0 -- "$path"
    echo
  else
    printf '==> missing %s\n' "$path"
  fi
done
