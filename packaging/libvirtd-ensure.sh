#!/bin/bash
# Start libvirtd (and virtlogd) when they are not running, as on a fresh
# Debian 12 machine or container without systemd. Safe to run again.
set -euo pipefail

sock=/var/run/libvirt/libvirt-sock

# /dev/kvm as Debian's udev rule sets it (root:kvm 0660). Without udev (a
# container) it stays root-only; libvirt then finds KVM unusable for QEMU's
# user at every look-up, probes QEMU's capabilities again each time, and
# every define or start takes seconds.
if [ -c /dev/kvm ] && [ "$(id -u)" -eq 0 ] && getent group kvm >/dev/null &&
    [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ]; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

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
# QEMU daemonizes (libvirt's capability probes do too): its processes are
# orphaned to the nearest subreaper. Without systemd that is PID 1, which in a
# container may not reap them, and libvirtd then waits for probes that never
# end. tini -s makes a subreaper that does.
if ! pgrep -x libvirtd >/dev/null; then
    setsid tini -s -- libvirtd </dev/null >>/var/log/libvirt/libvirtd.out 2>&1 &
fi
for _ in $(seq 1 100); do
    if [ -S "$sock" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
        echo "libvirtd started"
        exit 0
    fi
    sleep 0.1
done
echo "libvirtd did not come up within 10 s (see /var/log/libvirt/)" >&2
exit 1
