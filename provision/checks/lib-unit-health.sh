# unit_health UNIT...: how systemd units are doing, one "==> unit:NAME" block each: state, how
# often systemd restarted it, and the last fatal or error line it logged (klog's F/E lines, or
# Go's "Error:"), so that a crash loop is reported with its cause rather than as "activating".
# A function library: the engine sends this file ahead of the facts scripts that call it.
unit_health() {
  local unit state restarts line
  for unit in "$@"; do
    printf '\n==> unit:%s\n' "$unit"
    systemctl show "$unit" -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p ActiveEnterTimestampMonotonic --no-pager 2>&1
    # %.0f, not %d: mawk's %d stops at 2^31-1 (36 minutes of uptime in microseconds).
    printf 'MonotonicNow=%s\n' "$(awk '{printf "%.0f", $1 * 1000000}' /proc/uptime)"
    state=$(systemctl show "$unit" -p ActiveState --value 2>/dev/null)
    restarts=$(systemctl show "$unit" -p NRestarts --value 2>/dev/null)
    if [ "$state" != "active" ] || [ "${restarts:-0}" != "0" ]; then
      line=$(journalctl -u "$unit" -n 400 --no-pager -o cat 2>/dev/null | grep -E '^[FE][0-9]{4} |^Error: |level=(fatal|error)' | tail -n 1)
      printf 'LastError=%s\n' "${line:0:400}"
    fi
  done
}
