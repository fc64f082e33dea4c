#!/bin/sh
# mmdebstrap customize-hook: turns the freshly installed Debian tree into the Hardway Lab base
# image. $1 is the root directory of the image. Everything it installs comes from ../rootfs.
set -eu
root=$1
here=$(cd "$(dirname "$0")" && pwd)

# Our files: boot-time settings, growfs, sshd drop-in, fstab.
cp -R "$here/../rootfs/." "$root/"
chmod 755 "$root/usr/local/sbin/hardway-boot-config" "$root/usr/local/sbin/hardway-growfs"

in_root() { chroot "$root" "$@"; }

in_root systemctl enable hardway-boot-config.service hardway-growfs.service ssh.service

# Fast boot under software emulation: nothing periodic, nothing that waits for a network
# that will never answer, no console on a screen nobody sees (the serial console stays).
for unit in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  fstrim.timer e2scrub_reap.service systemd-pstore.service getty@tty1.service \
  systemd-networkd-wait-online.service systemd-timesyncd.service; do
  in_root systemctl disable "$unit" >/dev/null 2>&1 || true
done
in_root systemctl mask systemd-networkd-wait-online.service apt-daily.service apt-daily-upgrade.service \
  e2scrub_all.service e2scrub_reap.service >/dev/null

# No host keys in the image: each node makes its own on first boot (see hardway-boot-config).
rm -f "$root"/etc/ssh/ssh_host_*

# No password for anyone: root logs in with the lab key only.
in_root passwd -l root >/dev/null

# Each node gets its own machine-id on first boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

echo hardway-lab > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thardway-lab\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"

# No DNS server in the lab network; short timeouts so nothing hangs on lookups.
printf 'options timeout:1 attempts:1\n' > "$root/etc/resolv.conf"

# Logs stay in memory-sized bounds on small disks.
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nSystemMaxUse=64M\n' > "$root/etc/systemd/journald.conf.d/hardway-lab.conf"

# Where later steps expect to find things.
mkdir -p "$root/root/.ssh"
chmod 700 "$root/root/.ssh"
