#!/bin/bash
# boot-check.sh OUTDIR [KEEPDIR]: smoke test of a built testguest image.
#
# Boots OUTDIR's vmlinuz + initrd.img under plain QEMU with TCG (no KVM,
# no libvirt) on a throwaway overlay of disk.qcow2, and checks, through the
# HMP monitor, QMP and the serial log, that the guest
#   - reaches "TESTGUEST ready" within 60 s (and reports how long it took),
#   - draws a recognisable, non-blank screen that changes over time,
#   - reports keys (sendkey a, f12) and absolute pointer events,
#   - writes the disk marker on F12, and finds it again after a restart on
#     the same overlay (while a fresh overlay starts without it).
# With KEEPDIR, the logs, screendumps (.ppm and .png) are left there.
# QEMU_DEVICES overrides the display and pointer devices, e.g.
#   QEMU_DEVICES="-vga none -device virtio-gpu-pci -device virtio-tablet-pci"
# Exit 0: all good; 1: a check failed (message on stderr); 77: cannot run here.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 OUTDIR [KEEPDIR]" >&2; exit 2; fi
[ -d "$1" ] || { echo "boot-check: $1 is not a directory, run build.sh $1 first" >&2; exit 1; }
IMG=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CTL="python3 $HERE/guestctl.py"
READY_TIMEOUT=60
QEMU_DEVICES=${QEMU_DEVICES:--vga std -device qemu-xhci -device usb-tablet}

for c in qemu-system-x86_64 qemu-img python3; do
	command -v "$c" >/dev/null || { echo "boot-check: SKIP: $c not installed" >&2; exit 77; }
done
for f in vmlinuz initrd.img disk.qcow2 cmdline; do
	[ -r "$IMG/$f" ] || { echo "boot-check: $IMG/$f missing, run build.sh $1 first" >&2; exit 1; }
done

KEEP=0
if [ $# -eq 2 ]; then
	KEEP=1
	mkdir -p "$2"
	WORK=$(cd "$2" && pwd)
	rm -f "$WORK"/*.sock "$WORK"/*.log "$WORK"/*.err "$WORK"/*.ppm "$WORK"/*.png "$WORK"/overlay.qcow2
else
	WORK=$(mktemp -d /tmp/testguest-check.XXXXXX)
fi
QEMU_PID=

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

die() {
	echo "boot-check: FAIL: $*" >&2
	if [ -n "${LOG:-}" ] && [ -r "$LOG" ]; then
		echo "--- last lines of $LOG:" >&2
		tail -n 25 "$LOG" >&2
	fi
	exit 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Starts QEMU on the overlay, serial log in $LOG; sets QEMU_PID and T_START.
start_vm() {
	LOG=$WORK/serial-$1.log
	rm -f "$WORK/mon.sock" "$WORK/qmp.sock" "$WORK/vnc.sock"
	T_START=$(now)
	# shellcheck disable=SC2086 # QEMU_DEVICES is a list of words
	qemu-system-x86_64 -accel tcg -m 256 -nic none \
		-kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" -append "$(cat "$IMG/cmdline")" \
		-drive file="$WORK/overlay.qcow2",if=virtio,format=qcow2 \
		$QEMU_DEVICES \
		-display none -vnc unix:"$WORK/vnc.sock" \
		-serial file:"$LOG" \
		-monitor unix:"$WORK/mon.sock",server,nowait \
		-qmp unix:"$WORK/qmp.sock",server,nowait \
		-no-reboot 2>"$WORK/qemu-$1.err" &
	QEMU_PID=$!
}

# Waits until the serial log has a line matching the regex $1, at most $2 s.
wait_log() {
	local end
	end=$(awk -v t="$(now)" -v d="$2" 'BEGIN { printf "%.0f", t + d }')
	while ! grep -Eq "$1" "$LOG" 2>/dev/null; do
		kill -0 "$QEMU_PID" 2>/dev/null || die "QEMU exited: $(cat "$WORK"/qemu-*.err)"
		! grep -q 'Kernel panic' "$LOG" 2>/dev/null || die "the guest kernel panicked"
		[ "$(date +%s)" -lt "$end" ] || die "no '$1' in the serial log after $2 s"
		sleep 0.1
	done
}

hmp() { $CTL hmp "$WORK/mon.sock" "$@"; }

stop_vm() {
	hmp quit >/dev/null 2>&1 || true
	for _ in $(seq 50); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
	kill "$QEMU_PID" 2>/dev/null || true
	wait "$QEMU_PID" 2>/dev/null || true
	QEMU_PID=
}

# Takes a screendump into $WORK/$1.ppm (and .png for people to look at).
screendump() {
	hmp "screendump $WORK/$1.ppm" >/dev/null
	[ -s "$WORK/$1.ppm" ] || die "screendump $1 produced nothing"
	$CTL png "$WORK/$1.ppm" "$WORK/$1.png"
}

qemu-img create -q -f qcow2 -b "$IMG/disk.qcow2" -F qcow2 "$WORK/overlay.qcow2"

# --- boot 1: fresh overlay --------------------------------------------------
start_vm 1
wait_log '^TESTGUEST ready' "$READY_TIMEOUT"
BOOT1=$(elapsed "$T_START")
echo "boot-check: boot 1 ready after $BOOT1 s ($(grep -m1 '^TESTGUEST ready' "$LOG" | tr -d '\r'))"
grep -q '^TESTGUEST marker absent' "$LOG" || die "fresh overlay: expected 'marker absent'"
echo "boot-check: fresh disk: marker absent"

screendump screen-1
$CTL check "$WORK/screen-1.ppm" >/dev/null || die "screen-1 is not the testguest picture"
sleep 1.5
screendump screen-2
$CTL differ "$WORK/screen-1.ppm" "$WORK/screen-2.ppm" >/dev/null || die "the screen does not change"
echo "boot-check: screen drawn (colour bars found) and changing"

hmp "sendkey a" >/dev/null
wait_log '^TESTGUEST key 30 down' 20
wait_log '^TESTGUEST key 30 up' 20
echo "boot-check: key a seen (30 down/up)"

# The USB tablet enumerates after "ready" under TCG; wait for it before pointing.
wait_log '^TESTGUEST input .*absolute' 30
$CTL pointer "$WORK/qmp.sock" 512 384 1024 768 1
wait_log '^TESTGUEST pointer 512 384 buttons 1' 20
wait_log '^TESTGUEST pointer 512 384 buttons 0' 20
echo "boot-check: absolute pointer 512,384 with left click seen"

hmp "sendkey f12" >/dev/null
wait_log '^TESTGUEST key 88 down' 20
wait_log '^TESTGUEST marker written' 20
echo "boot-check: F12 wrote the marker ($(grep -m1 '^TESTGUEST marker written' "$LOG" | tr -d '\r'))"
sleep 0.5
screendump screen-3
$CTL check "$WORK/screen-3.ppm" >/dev/null || die "screen-3 is not the testguest picture"
read -r R G B < <($CTL pixel "$WORK/screen-3.ppm" 512 384)
[ "$R $G $B" = "255 128 0" ] || die "no pointer marker at 512,384 (pixel is $R $G $B)"
echo "boot-check: pointer marker drawn at 512,384"
stop_vm

# --- boot 2: same overlay, the marker must still be there --------------------
start_vm 2
wait_log '^TESTGUEST ready' "$READY_TIMEOUT"
BOOT2=$(elapsed "$T_START")
grep -q '^TESTGUEST marker present AULA-MARKER' "$LOG" || die "restart: expected 'marker present'"
echo "boot-check: boot 2 ready after $BOOT2 s, $(grep -m1 '^TESTGUEST marker present' "$LOG" | tr -d '\r')"
stop_vm

# The template itself must be untouched (it is what a reset goes back to).
qemu-img create -q -f qcow2 -b "$IMG/disk.qcow2" -F qcow2 "$WORK/overlay.qcow2"
start_vm 3
wait_log '^TESTGUEST marker (absent|present)' "$READY_TIMEOUT"
grep -q '^TESTGUEST marker absent' "$LOG" || die "new overlay of the template: expected 'marker absent'"
BOOT3=$(elapsed "$T_START")
echo "boot-check: new overlay: marker absent again (after $BOOT3 s)"
stop_vm

echo "boot-check: OK, time to 'TESTGUEST ready' under TCG: ${BOOT1} s and ${BOOT2} s"
if [ "$KEEP" = 1 ]; then echo "boot-check: logs and screendumps in $WORK"; fi
exit 0
