#!/bin/bash
# build.sh OUTDIR: builds aula's "testguest" boot image into OUTDIR:
#   vmlinuz     Debian's kernel (the one linux-image-amd64 depends on)
#   initrd.img  gzip'd newc cpio: /init (guest.c), the modules it needs, busybox
#   disk.qcow2  empty 64 MiB qcow2, the template disk
#   cmdline     the kernel command line to boot with
# Nothing is installed on the host: the kernel and busybox-static packages
# are fetched with `apt-get download` into OUTDIR/cache and unpacked there.
# Re-running reuses every step whose inputs did not change.
#
# Needs (Debian packages): apt, dpkg, gcc, libc6-dev, binutils (objcopy),
# cpio, gzip, qemu-utils, coreutils, findutils. See README.md.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE=$OUT/cache
mkdir -p "$CACHE"
umask 022

# The kernel command line. quiet keeps the serial log to our own lines
# (printing every boot message on an emulated UART costs time under TCG).
CMDLINE="console=ttyS0 video=1024x768 quiet"

# Modules /init loads, in this order (dependencies are added before each).
# Everything else it needs is built into Debian's kernel: i8042, atkbd,
# serial 8250, fbdev core and fbcon, devtmpfs. "name param=value" passes
# module parameters (the kernel does not take them from its command line
# for modules loaded by finit_module, that is modprobe's job).
MODULES=(
	evdev                   # /dev/input/event*
	bochs                   # QEMU standard VGA (-vga std, <model type='vga'/>)
	virtio-gpu              # virtio-gpu (<model type='virtio'/>)
	virtio_pci
	virtio_blk              # /dev/vda, the marker disk
	virtio_input            # virtio tablet / keyboard
	xhci-pci ehci-pci uhci-hcd      # USB host controllers (q35: xhci, pc: uhci)
	usbhid hid-generic      # USB tablet / keyboard
	"psmouse proto=imps"    # PS/2 mouse; imps: skip the slow protocol probing
)
BUSYBOX_APPLETS="sh ls cat dmesg mount umount mkdir hexdump od dd ps kill sleep echo grep head tail sync poweroff reboot uname free"

need() {
	local missing=() c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "testguest: missing commands: ${missing[*]} (see README.md for the Debian packages)" >&2
		exit 1
	fi
}
need apt-get apt-cache dpkg-deb gcc objcopy cpio gzip qemu-img sha256sum find

STEP=0
step() { STEP=$((STEP + 1)); printf 'testguest [%d/8] %s\n' "$STEP" "$*"; }

# Installs file $1 as $2 unless $2 already has the same bytes.
install_if_changed() {
	if cmp -s "$1" "$2"; then return 1; fi
	cp "$1" "$2.tmp" && chmod 0644 "$2.tmp" && mv -f "$2.tmp" "$2"
}

# Prints the path of package $1's .deb in the cache, downloading it if needed.
# Offline (no apt lists), falls back to the newest copy already cached.
fetch_deb() {
	local pkg=$1 ver arch file
	ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
	arch=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Architecture: //p' | head -n1)
	if [ -z "$ver" ]; then
		# shellcheck disable=SC2012 # our own file names, newest first
		file=$(ls -t "$CACHE/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
		[ -n "$file" ] || { echo "testguest: apt knows no $pkg (run apt-get update)" >&2; exit 1; }
		echo "$file"; return
	fi
	file=$CACHE/${pkg}_${ver//:/%3a}_${arch}.deb
	if [ ! -s "$file" ]; then
		# The sandbox user _apt may not be able to write to OUTDIR; download as us.
		(cd "$CACHE" && apt-get -q=2 -o APT::Sandbox::User="$(id -un)" download "$pkg" >&2)
	fi
	[ -s "$file" ] || { echo "testguest: download of $pkg did not produce $file" >&2; exit 1; }
	echo "$file"
}

# --- 1. kernel package ------------------------------------------------------
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1 || true)
if [ -z "$KPKG" ]; then
	# shellcheck disable=SC2012 # our own file names, newest first
	KPKG=$(ls -t "$CACHE"/linux-image-[0-9]*.deb 2>/dev/null | head -n1 | sed 's|.*/||; s|_.*||' || true)
	[ -n "$KPKG" ] || { echo "testguest: cannot tell which kernel linux-image-amd64 uses (apt-get update?)" >&2; exit 1; }
fi
KVER=${KPKG#linux-image-}
KDEB=$(fetch_deb "$KPKG")
step "kernel package $(basename "$KDEB")"

# --- 2. unpack the kernel and the driver modules --------------------------
KDIR=$CACHE/kernel-$KVER
if [ ! -e "$KDIR/.done" ] || [ "$(cat "$KDIR/.done")" != "$(basename "$KDEB")" ]; then
	step "unpack $KPKG (boot/ and kernel/drivers only)"
	rm -rf "$KDIR" "$KDIR.tmp"
	mkdir -p "$KDIR.tmp"
	dpkg-deb --fsys-tarfile "$KDEB" |
		tar -x -C "$KDIR.tmp" --wildcards "./boot/vmlinuz-$KVER" "./boot/config-$KVER" \
			"./lib/modules/$KVER/kernel/drivers/*"
	basename "$KDEB" > "$KDIR.tmp/.done"
	mv "$KDIR.tmp" "$KDIR"
else
	step "unpack $KPKG (cached)"
fi

# --- 3. busybox-static ------------------------------------------------------
BDEB=$(fetch_deb busybox-static)
BDIR=$CACHE/busybox
if [ ! -e "$BDIR/.done" ] || [ "$(cat "$BDIR/.done")" != "$(basename "$BDEB")" ]; then
	step "busybox $(basename "$BDEB")"
	rm -rf "$BDIR" "$BDIR.tmp"
	mkdir -p "$BDIR.tmp"
	dpkg-deb --fsys-tarfile "$BDEB" | tar -x -C "$BDIR.tmp" ./bin/busybox
	basename "$BDEB" > "$BDIR.tmp/.done"
	mv "$BDIR.tmp" "$BDIR"
else
	step "busybox $(basename "$BDEB") (cached)"
fi

# --- 4. /init ---------------------------------------------------------------
CFLAGS="-static -O2 -Wall -Wextra"
INIT=$CACHE/init
INIT_KEY=$( (sha256sum < "$HERE/guest.c"; echo "$CFLAGS"; gcc --version | head -n1) | sha256sum | cut -c1-16)
if [ ! -x "$INIT" ] || [ "$(cat "$INIT.key" 2>/dev/null)" != "$INIT_KEY" ]; then
	step "compile guest.c"
	# shellcheck disable=SC2086 # CFLAGS is a list of words
	gcc $CFLAGS -o "$INIT.tmp" "$HERE/guest.c"
	mv -f "$INIT.tmp" "$INIT"
	echo "$INIT_KEY" > "$INIT.key"
else
	step "compile guest.c (unchanged)"
fi

# --- 5. vmlinuz -------------------------------------------------------------
if install_if_changed "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz"; then
	step "vmlinuz $KVER"
else
	step "vmlinuz $KVER (unchanged)"
fi

# --- 6. initrd.img ----------------------------------------------------------
MODDIR=$KDIR/lib/modules/$KVER/kernel
declare -A MOD_PATH=() MOD_DONE=()
while IFS= read -r f; do
	n=${f##*/}; n=${n%.ko}; MOD_PATH[${n//-/_}]=$f
done < <(find "$MODDIR" -name '*.ko')

# A module's dependencies, from the depends= field of its .modinfo section
# (the package has no modules.dep: depmod runs at install time).
mod_depends() {
	objcopy -O binary --only-section=.modinfo "$1" /dev/stdout |
		tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' '
}

ORDER=()
# Appends module $1 to ORDER after its dependencies (depth first).
mod_add() {
	local name=${1//-/_} dep
	[ -n "${MOD_DONE[$name]:-}" ] && return 0
	MOD_DONE[$name]=1
	[ -n "${MOD_PATH[$name]:-}" ] || { echo "testguest: no module $1 in $KPKG" >&2; exit 1; }
	for dep in $(mod_depends "${MOD_PATH[$name]}"); do mod_add "$dep"; done
	ORDER+=("$name")
}
declare -A MOD_PARAMS=()
for m in "${MODULES[@]}"; do
	name=${m%% *}; name=${name//-/_}
	if [ "$m" != "${m#* }" ]; then MOD_PARAMS[$name]=${m#* }; fi
	mod_add "$name"
done

ORDER_TXT=$CACHE/modules.order
for name in "${ORDER[@]}"; do
	f=${MOD_PATH[$name]}
	printf '/lib/modules/%s %s\n' "${f##*/}" "${MOD_PARAMS[$name]:-}" | sed 's/ $//'
done > "$ORDER_TXT.tmp"
mv -f "$ORDER_TXT.tmp" "$ORDER_TXT"

INITRD_KEY=$( (cat "$INIT.key" "$ORDER_TXT" "$BDIR/.done" "$KDIR/.done"; echo "$BUSYBOX_APPLETS"; sha256sum < "$0") |
	sha256sum | cut -c1-16)
if [ ! -s "$OUT/initrd.img" ] || [ "$(cat "$CACHE/initrd.key" 2>/dev/null)" != "$INITRD_KEY" ]; then
	step "initrd.img (${#ORDER[@]} modules)"
	ROOT=$CACHE/initramfs
	rm -rf "$ROOT"
	mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,lib/modules}
	cp "$INIT" "$ROOT/init"
	cp "$ORDER_TXT" "$ROOT/modules.order"
	for name in "${ORDER[@]}"; do cp "${MOD_PATH[$name]}" "$ROOT/lib/modules/"; done
	cp "$BDIR/bin/busybox" "$ROOT/bin/busybox"
	for a in $BUSYBOX_APPLETS; do ln -s busybox "$ROOT/bin/$a"; done
	# The kernel opens /dev/console for PID 1 before /init can mount devtmpfs.
	mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null ||
		echo "testguest: warning: not root, no /dev/console in the initramfs (harmless)" >&2
	chmod 0755 "$ROOT/init" "$ROOT/bin/busybox"
	chmod 0644 "$ROOT/modules.order" "$ROOT"/lib/modules/*.ko
	(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$OUT/initrd.img.tmp"
	chmod 0644 "$OUT/initrd.img.tmp"
	mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
	echo "$INITRD_KEY" > "$CACHE/initrd.key"
else
	step "initrd.img (unchanged)"
fi

# --- 7. disk.qcow2 ----------------------------------------------------------
# Created once and never rewritten: it is the template, and tests compare a
# VM's disk against it. Delete it to get a fresh one.
if [ ! -s "$OUT/disk.qcow2" ]; then
	step "disk.qcow2 (empty, 64 MiB)"
	qemu-img create -q -f qcow2 "$OUT/disk.qcow2.tmp" 64M
	chmod 0644 "$OUT/disk.qcow2.tmp"
	mv -f "$OUT/disk.qcow2.tmp" "$OUT/disk.qcow2"
else
	step "disk.qcow2 (exists)"
fi

# --- 8. cmdline -------------------------------------------------------------
echo "$CMDLINE" > "$CACHE/cmdline"
if install_if_changed "$CACHE/cmdline" "$OUT/cmdline"; then
	step "cmdline: $CMDLINE"
else
	step "cmdline: $CMDLINE (unchanged)"
fi

chmod 0755 "$OUT"
chmod 0644 "$OUT/vmlinuz" "$OUT/initrd.img" "$OUT/disk.qcow2" "$OUT/cmdline"
echo "testguest: done, $(du -h "$OUT/initrd.img" | cut -f1) initrd, modules: ${ORDER[*]}"
