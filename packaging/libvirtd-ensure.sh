#!/bin/bash
# Start libvirtd (and virtlogd) when they are not running, as on a fresh
# Debian 12 machine or container without systemd. Safe to run again.
set -euo pipefail

sock=/var/run/libvirt/libvirt-sock
if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "libvirtd is not running and starting it needs root (sudo $0)" >&2
    exit 1
fi
if ! id libvirt-qemu >/dev/null 2>&1; then
    echo "libvirt-qemu user missing: install libvirt-daemon-system (packaging/debian-packages.txt)" >&2
    exit 1
fi
mkdir -p /var/log/libvirt /var/run/libvirt /var/lib/libvirt
pgrep -x virtlogd >/dev/null || virtlogd -d
pgrep -x libvirtd >/dev/null || libvirtd -d
for _ in $(seq 1 100); do
    if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "libvirtd started"
        exit 0
    fi
    sleep 0.1
done
echo "libvirtd did not come up within 10 s (see /var/log/libvirt/)" >&2
exit 1
