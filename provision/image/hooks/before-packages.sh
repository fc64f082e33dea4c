#!/bin/sh
# mmdebstrap essential-hook: runs after the essential packages, before the kernel and the rest are
# installed, so the initrd is generated once with our settings (MODULES=most, no resume device).
# $1 is the root directory of the image being built.
set -eu
root=$1
here=$(dirname "$0")
mkdir -p "$root/etc/initramfs-tools/conf.d"
cp "$here/../rootfs/etc/initramfs-tools/conf.d/hardway-lab.conf" "$root/etc/initramfs-tools/conf.d/hardway-lab.conf"
