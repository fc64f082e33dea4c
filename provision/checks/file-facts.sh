#!/bin/bash
# Facts about files on a node, so the engine uploads only what differs.
# Usage: file-facts.sh PATH...
# Prints one line per path: "SHA256 MODE PATH" (mode in octal, as stat prints it),
# or "missing - PATH" when the path is not a regular file.
set -u
for path in "$@"; do
  if [ -f "$path" ]; then
    hash=$(sha256sum -- "$path" | cut -d' ' -f1)
    printf '%s %s %s\n' "$hash" "$(stat -c %a -- "$path")" "$path"
  else
    printf 'missing - %s\n' "$path"
  fi
done
