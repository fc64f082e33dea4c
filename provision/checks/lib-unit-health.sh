# unit_health UNIT...: how systemd units are doing, one "==> unit:NAME" block each: state, how
# often systemd restarted it, and the last fatal line it logged (klog's F lines, Go's "Error:"),
# else the last error line (klog's E lines), so that a crash loop is reported with its cause
# rather than as "activating".
# A function library: the engine sends this file ahead of the facts scripts that call it.
unit_health() {
  local unit state restarts line journal
  for unit in "$@"; do
    printf '\n==> unit:%s\n' "$unit"
    systemctl show "$unit" -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p ActiveEnterTimestampMonotonic --no-pager 2>&1
    # %.0f, not %d: mawk's %d stops at 2^31-1 (36 minutes of uptime in microseconds).
    printf 'MonotonicNow=%s\n' "$(awk '{printf "%.0f", $1 * 1000000}' /proc/uptime)"
    state=$(systemctl show "$unit" -p ActiveState --value 2>/dev/null)
    restarts=$(systemctl show "$unit" -p NRestarts --value 2>/dev/null)
    if [ "$state" != "active" ] || [ "${restarts:-0}" != "0" ]; then
      # The fatal line says why the process exited; only without one, the last error line (a
      # restarted server logs harmless E lines at start, e.g. "The manifest file is empty").
      journal=$(journalctl -u "$unit" -n 400 --no-pager -o cat 2>/dev/null)
      line=$(printf '%s\n' "$journal" | grep -E '^F[0-9]{4} |^Error: |level=fatal' | tail -n 1)
      [ -n "$line" ] || line=$(printf '%s\n' "$journal" | grep -E '^E[0-9]{4} |level=error' | tail -n 1)
      printf 'LastError=%s\n' "${line:0:400}"
    fi
  done
}
