#!/bin/bash
# build.sh OUTDIR: builds aula's "desktop" template, a Debian 12 (bookworm)
# XFCE desktop, into OUTDIR:
#   disk.qcow2  the root disk: one ext4 file system on the whole disk (no
#               partition table), label aularoot, mounted as / from /dev/vda
#   vmlinuz     the guest's own kernel (from linux-image-amd64 in the image)
#   initrd.img  the guest's own initramfs (with virtio_blk and ext4)
#   cmdline     the kernel command line for libvirt's direct kernel boot
# and keeps OUTDIR/rootfs (the tree the disk is made from), OUTDIR/cache
# (downloaded .debs) and OUTDIR/state (what was built from what).
#
# The tree is made with debootstrap and apt-get in a chroot (needs root);
# the disk with `mkfs.ext4 -d` (no loop device, the image is never mounted)
# and `qemu-img convert`. Packages come from the Debian mirror this machine's
# apt is configured with. Re-running reuses every step whose inputs did not
# change. Settings (environment): DESKTOP_DISK_SIZE (default 8G),
# DESKTOP_PASSWORD (default "student"), DESKTOP_EXTRA_PACKAGES, DESKTOP_MIRROR.
#
# Needs (Debian packages): debootstrap, e2fsprogs (mkfs.ext4 with -d),
# qemu-utils (qemu-img), coreutils, mount (mount/umount for /proc in the
# chroot). See README.md.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

SUITE=bookworm
HOSTNAME_=aula-desktop
USER_=student
PASSWORD=${DESKTOP_PASSWORD:-student}
DISK_SIZE=${DESKTOP_DISK_SIZE:-8G}
LABEL=aularoot
# Kernel command line: root is the whole virtio disk, fsck'd read-only and
# remounted read-write by systemd; kernel and systemd messages go to the
# serial port (the last console=), the screen stays clean for the desktop.
CMDLINE="root=/dev/vda ro console=tty0 console=ttyS0 quiet"

# Installed first, so /etc/initramfs-tools can be set up before the kernel.
EARLY_PACKAGES=(initramfs-tools zstd)
# Everything else, with --no-install-recommends.
PACKAGES=(
	linux-image-amd64
	systemd-sysv udev dbus dbus-user-session libpam-systemd polkitd
	openssh-server qemu-guest-agent
	iproute2 iputils-ping ca-certificates less nano
	xserver-xorg xserver-xorg-video-all xserver-xorg-video-qxl xserver-xorg-input-all
	lightdm lightdm-gtk-greeter
	xfce4 xfce4-terminal xfce4-notifyd
	tango-icon-theme fonts-dejavu-core librsvg2-common xdg-user-dirs
)
# Installed last: it turns /etc/resolv.conf into a link to its stub.
LATE_PACKAGES=(systemd-resolved)
# shellcheck disable=SC2206 # a list of package names
EXTRA_PACKAGES=(${DESKTOP_EXTRA_PACKAGES:-})
# Forced into the initramfs (and loaded early) on top of MODULES=most.
INITRAMFS_MODULES=(virtio_pci virtio_blk ext4)

[ "$(id -u)" -eq 0 ] || { echo "desktop: must run as root (debootstrap and chroot)" >&2; exit 1; }

need() {
	local missing=() c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "desktop: missing commands: ${missing[*]} (see README.md for the Debian packages)" >&2
		exit 1
	fi
}
need debootstrap mkfs.ext4 qemu-img truncate chroot mount umount mountpoint sha256sum find awk
{ mkfs.ext4 2>&1 || true; } | grep -q -- '-d ' || { echo "desktop: this mkfs.ext4 has no -d (e2fsprogs >= 1.43 needed)" >&2; exit 1; }

mkdir -p "$1"
OUT=$(cd "$1" && pwd)
ROOT=$OUT/rootfs
CACHE=$OUT/cache
STATE=$OUT/state
mkdir -p "$CACHE/debs" "$STATE"
chmod 0700 "$STATE"
umask 022
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

STEP=0
step() { STEP=$((STEP + 1)); printf 'desktop [%d/8] %s\n' "$STEP" "$*"; }
key() { sha256sum | cut -c1-16; }

# Installs stdin as file $1 (mode $2) in the tree unless it has those bytes
# (the new copy is made outside the tree: not even a directory changes).
put() {
	local f=$ROOT$1 mode=$2 tmp=$STATE/put.tmp
	cat > "$tmp"
	if cmp -s "$tmp" "$f" && [ "$(stat -c %a "$f")" = "$mode" ]; then
		rm -f "$tmp"
	else
		mkdir -p "$(dirname "$f")"
		chmod "$mode" "$tmp"
		mv -f "$tmp" "$f"
	fi
}
# Makes $1 a symbolic link to $2 unless it already is one.
link() {
	[ "$(readlink "$ROOT$1" 2>/dev/null)" = "$2" ] && return 0
	mkdir -p "$(dirname "$ROOT$1")"
	rm -rf "${ROOT:?}$1"
	ln -s "$2" "$ROOT$1"
}
# Removes files from the tree (paths inside it) that exist.
remove() {
	local p
	for p in "$@"; do
		if [ -e "$ROOT$p" ] || [ -L "$ROOT$p" ]; then rm -rf "${ROOT:?}$p"; fi
	done
}

# --- mounts ------------------------------------------------------------------
# Only /proc in the chroot, and only while apt runs there (debootstrap mounts
# the same itself). Nothing is ever mounted from the image.
mounts_under() { awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r; }
unmount_all() {
	local m
	for m in $(mounts_under "$1"); do umount "$m" 2>/dev/null || umount -l "$m"; done
}
CHROOT_OPEN=
chroot_begin() {
	[ -n "$CHROOT_OPEN" ] && return 0
	CHROOT_OPEN=1
	mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
	# Name resolution for apt (systemd-resolved's stub does not run here).
	rm -f "$ROOT/etc/resolv.conf"
	cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
	# No daemons are started by maintainer scripts.
	printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"
	chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
}
chroot_end() {
	[ -n "$CHROOT_OPEN" ] || return 0
	CHROOT_OPEN=
	rm -f "$ROOT/usr/sbin/policy-rc.d" "$ROOT/etc/resolv.conf"
	if [ -e "$ROOT/lib/systemd/systemd-resolved" ]; then
		ln -s ../run/systemd/resolve/stub-resolv.conf "$ROOT/etc/resolv.conf"
	else
		: > "$ROOT/etc/resolv.conf"
	fi
	unmount_all "$ROOT"
}
trap chroot_end EXIT
in_root() { chroot "$ROOT" "$@"; }
# Runs a command with its output appended to $STATE/$1; on failure shows the
# end of that log and stops.
logged() {
	local log=$STATE/$1
	shift
	echo "+ $*" >> "$log"
	if ! "$@" >> "$log" 2>&1; then
		tail -n 30 "$log" >&2
		echo "desktop: failed: $* (log in $log)" >&2
		exit 1
	fi
}
apt_root() {
	in_root apt-get -q -y -o APT::Install-Recommends=false -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		-o Dpkg::Use-Pty=0 "$@"
}
# Lends the .deb cache to the chroot's apt (hard links, same file system).
debs_in() { find "$CACHE/debs" -maxdepth 1 -name '*.deb' -exec cp -l -n -t "$ROOT/var/cache/apt/archives/" {} + 2>/dev/null || true; }
debs_out() { find "$ROOT/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -l -n -t "$CACHE/debs/" {} + 2>/dev/null || true; }

# --- 1. mirror ------------------------------------------------------------------
# "URI SUITE" for every deb source apt is configured with, one-line (.list)
# and deb822 (.sources) formats.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			print $i, $(i + 1) }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush(  n, m, a, b, U, S) {
				if (types ~ /(^| )deb( |$)/ && enabled != "no") {
					n = split(uris, U, " "); m = split(suites, S, " ")
					for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print U[a], S[b]
				}
				types = uris = suites = ""; enabled = "yes"
			}
			BEGIN { enabled = "yes" }
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ { next }
			{ k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
			  if (k == "types") types = v; else if (k == "uris") uris = v
			  else if (k == "suites") suites = v; else if (k == "enabled") enabled = tolower(v) }
			END { flush() }' "$f"
	done
}
uri_for() { apt_sources | awk -v s="$1" '$2 == s { sub(/\/+$/, "", $1); print $1; exit }'; }
MIRROR=${DESKTOP_MIRROR:-$(uri_for "$SUITE")}
MIRROR=${MIRROR%/}
[ -n "$MIRROR" ] || { echo "desktop: no '$SUITE' source in /etc/apt/sources.list{,.d/*}; set DESKTOP_MIRROR" >&2; exit 1; }
UPDATES=$(uri_for "$SUITE-updates")
SECURITY=$(uri_for "$SUITE-security")
step "mirror $MIRROR $SUITE${UPDATES:+, $SUITE-updates}${SECURITY:+, $SECURITY $SUITE-security}"

# The guest's apt sources: the same mirrors.
GUEST_SOURCES=$(
	printf 'Types: deb\nURIs: %s\nSuites: %s%s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$MIRROR" "$SUITE" "${UPDATES:+ $SUITE-updates}"
	if [ -n "$SECURITY" ]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			"$SECURITY" "$SUITE"
	fi
)

# --- 2. debootstrap -------------------------------------------------------------
BOOT_KEY=$(echo "$MIRROR $SUITE minbase" | key)
if [ "$(cat "$STATE/debootstrap.key" 2>/dev/null)" != "$BOOT_KEY" ] || [ ! -x "$ROOT/usr/bin/apt-get" ]; then
	step "debootstrap $SUITE (minbase) into $ROOT"
	rm -f "$STATE"/*.key
	unmount_all "$ROOT"
	rm -rf "$ROOT"
	debootstrap --variant=minbase --cache-dir="$CACHE/debs" "$SUITE" "$ROOT" "$MIRROR" > "$STATE/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$STATE/debootstrap.log" >&2; echo "desktop: debootstrap failed, log in $STATE/debootstrap.log" >&2; exit 1; }
	unmount_all "$ROOT"
	echo "$BOOT_KEY" > "$STATE/debootstrap.key"
else
	step "debootstrap $SUITE (done before)"
fi

# --- 3. packages ----------------------------------------------------------------
# Adds what is missing; packages dropped from the lists stay until the tree is
# rebuilt (rm -rf OUTDIR/rootfs).
PKG_KEY=$( (echo "$BOOT_KEY"; echo "$GUEST_SOURCES"; echo "${EARLY_PACKAGES[*]}|${PACKAGES[*]}|${LATE_PACKAGES[*]}|${EXTRA_PACKAGES[*]}|${INITRAMFS_MODULES[*]}") | key)
if [ "$(cat "$STATE/packages.key" 2>/dev/null)" != "$PKG_KEY" ]; then
	step "packages: ${#PACKAGES[@]} + ${#EXTRA_PACKAGES[@]} extra, --no-install-recommends (log $STATE/apt.log)"
	chroot_begin
	rm -f "$STATE/initramfs.key"
	echo "$GUEST_SOURCES" | put /etc/apt/sources.list.d/debian.sources 644
	remove /etc/apt/sources.list
	: > "$STATE/apt.log"
	debs_in
	logged apt.log apt_root update
	logged apt.log apt_root dist-upgrade
	logged apt.log apt_root install "${EARLY_PACKAGES[@]}"
	# The kernel's initramfs must find the root disk: MODULES=most already
	# has virtio_blk and ext4; listing them also loads them early.
	sed -i 's/^MODULES=.*/MODULES=most/' "$ROOT/etc/initramfs-tools/initramfs.conf"
	for m in "${INITRAMFS_MODULES[@]}"; do
		grep -qx "$m" "$ROOT/etc/initramfs-tools/modules" || echo "$m" >> "$ROOT/etc/initramfs-tools/modules"
	done
	logged apt.log apt_root install "${PACKAGES[@]}" "${EXTRA_PACKAGES[@]}"
	logged apt.log apt_root install "${LATE_PACKAGES[@]}"
	debs_out
	logged apt.log apt_root clean
	echo "$PKG_KEY" > "$STATE/packages.key"
else
	step "packages (unchanged)"
fi

# --- 4. configuration -----------------------------------------------------------
# Every write here is "only if different", so an unchanged tree stays
# unchanged (step 7 compares times).
step "configure: hostname $HOSTNAME_, fstab, DHCP, user $USER_, lightdm autologin, ssh"
echo "$HOSTNAME_" | put /etc/hostname 644
put /etc/hosts 644 <<-EOF
	127.0.0.1	localhost
	127.0.1.1	$HOSTNAME_
	::1		localhost ip6-localhost ip6-loopback
	ff02::1		ip6-allnodes
	ff02::2		ip6-allrouters
EOF
put /etc/fstab 644 <<-'EOF'
	# aula desktop template: the whole virtio disk is one ext4 file system.
	/dev/vda	/	ext4	errors=remount-ro	0	1
EOF
echo 'LANG=C.UTF-8' | put /etc/default/locale 644
# DHCP on the wired NIC(s) with systemd-networkd; DNS from systemd-resolved.
put /etc/systemd/network/20-aula-wired.network 644 <<-'EOF'
	[Match]
	Type=ether
	Name=en* eth*

	[Network]
	DHCP=yes
EOF
link /etc/systemd/system/multi-user.target.wants/systemd-networkd.service /lib/systemd/system/systemd-networkd.service
link /etc/systemd/system/sockets.target.wants/systemd-networkd.socket /lib/systemd/system/systemd-networkd.socket
link /etc/systemd/system/dbus-org.freedesktop.network1.service /lib/systemd/system/systemd-networkd.service
link /etc/systemd/system/sysinit.target.wants/systemd-resolved.service /lib/systemd/system/systemd-resolved.service
link /etc/systemd/system/dbus-org.freedesktop.resolve1.service /lib/systemd/system/systemd-resolved.service
# Boot does not wait for a network (VMs may have none).
remove /etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service
# VMs are reset to the template: updates belong in the template, not in
# every VM at every boot.
remove /etc/systemd/system/timers.target.wants/apt-daily.timer \
	/etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer
link /etc/resolv.conf ../run/systemd/resolve/stub-resolv.conf
# Each VM makes its own machine id and SSH host keys on its first boot.
if [ -s "$ROOT/etc/machine-id" ]; then : > "$ROOT/etc/machine-id"; fi
link /var/lib/dbus/machine-id /etc/machine-id
for k in "$ROOT"/etc/ssh/ssh_host_*; do if [ -e "$k" ]; then rm -f "$k"; fi; done
put /etc/systemd/system/aula-ssh-hostkeys.service 644 <<-'EOF'
	[Unit]
	Description=Make SSH host keys (aula desktop template)
	Before=ssh.service
	ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

	[Service]
	Type=oneshot
	ExecStart=/usr/bin/ssh-keygen -A

	[Install]
	WantedBy=multi-user.target ssh.service
EOF
link /etc/systemd/system/multi-user.target.wants/aula-ssh-hostkeys.service ../aula-ssh-hostkeys.service
link /etc/systemd/system/ssh.service.wants/aula-ssh-hostkeys.service ../aula-ssh-hostkeys.service
# The desktop user, logged in automatically.
if ! grep -q "^$USER_:" "$ROOT/etc/passwd"; then
	in_root useradd -m -s /bin/bash -c "aula $USER_" -G audio,video,plugdev,users "$USER_"
fi
PW_KEY=$( (echo "$USER_"; echo "$PASSWORD") | key)
if [ "$(cat "$STATE/password.key" 2>/dev/null)" != "$PW_KEY" ]; then
	echo "$USER_:$PASSWORD" | in_root chpasswd
	echo "$PW_KEY" > "$STATE/password.key"
fi
put /etc/lightdm/lightdm.conf.d/50-aula-autologin.conf 644 <<-EOF
	# aula desktop template: log $USER_ in on the VM's screen at once.
	[Seat:*]
	autologin-user=$USER_
	autologin-user-timeout=0
	user-session=xfce
	greeter-session=lightdm-gtk-greeter
EOF
link /etc/systemd/system/display-manager.service /lib/systemd/system/lightdm.service
link /etc/systemd/system/default.target /lib/systemd/system/graphical.target
# The panel's default layout without the "first start" question.
PANEL_XML=/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml
if [ -f "$ROOT/etc/xdg/xfce4/panel/default.xml" ]; then
	put $PANEL_XML 644 < "$ROOT/etc/xdg/xfce4/panel/default.xml"
fi
# The root file system's type for the initramfs (it cannot see /dev/vda
# here): e2fsck goes in, and root is checked before it is mounted.
echo 'FSTYPE=ext4' | put /etc/initramfs-tools/conf.d/aula-root 644
# No GPU in these VMs: without this, modesetting (virtio, vga) renders with
# glamor on llvmpipe, which under TCG delays the desktop by up to a minute,
# and xfwm4 composites every frame. Plain 2D drawing also gives the VNC/RDP
# encoder less to send. (qxl uses its own 2D driver.)
put /etc/X11/xorg.conf.d/20-aula-noglamor.conf 644 <<-'EOF'
	Section "OutputClass"
		Identifier "aula-noglamor"
		MatchDriver "virtio_gpu|bochs-drm|bochs|cirrus"
		Driver "modesetting"
		Option "AccelMethod" "none"
	EndSection
EOF
put /etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfwm4.xml 644 <<-'EOF'
	<?xml version="1.0" encoding="UTF-8"?>
	<channel name="xfwm4" version="1.0">
	  <property name="general" type="empty">
	    <property name="use_compositing" type="bool" value="false"/>
	    <property name="vblank_mode" type="string" value="off"/>
	  </property>
	</channel>
EOF
# No screen blanking: a VDI viewer should not look dead after 10 minutes.
put /etc/X11/xorg.conf.d/10-aula-noblank.conf 644 <<-'EOF'
	Section "ServerFlags"
		Option "BlankTime" "0"
		Option "StandbyTime" "0"
		Option "SuspendTime" "0"
		Option "OffTime" "0"
	EndSection
EOF
# Small: no package lists, no downloaded .debs, no build-time leftovers.
remove /var/lib/apt/lists/partial /usr/sbin/policy-rc.d
for f in "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
	"$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old; do
	if [ -e "$f" ]; then rm -rf "$f"; fi
done

# --- 5. initramfs ---------------------------------------------------------------
KVER=$(find "$ROOT/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
[ -n "$KVER" ] || { echo "desktop: no kernel in $ROOT/boot" >&2; exit 1; }
INITRD=$ROOT/boot/initrd.img-$KVER
INITRAMFS_KEY=$( (echo "$PKG_KEY $KVER"; cat "$ROOT"/etc/initramfs-tools/{initramfs.conf,modules,conf.d/*}) | key)
if [ ! -s "$INITRD" ] || [ "$(cat "$STATE/initramfs.key" 2>/dev/null)" != "$INITRAMFS_KEY" ]; then
	step "initramfs $KVER (update-initramfs in the chroot)"
	chroot_begin
	: > "$STATE/initramfs.log"
	logged initramfs.log in_root update-initramfs -u -k "$KVER"
	LIST=$(in_root lsinitramfs "/boot/initrd.img-$KVER")
	for m in virtio_blk virtio_pci ext4; do
		grep -q "/$m\.ko" <<< "$LIST" || { echo "desktop: $m.ko is not in the initramfs" >&2; exit 1; }
	done
	chroot_end
	echo "$INITRAMFS_KEY" > "$STATE/initramfs.key"
else
	step "initramfs $KVER (unchanged)"
fi
chroot_end

# --- 6. vmlinuz, initrd.img -----------------------------------------------------
install_if_changed() {
	if cmp -s "$1" "$2"; then return 1; fi
	cp "$1" "$2.tmp" && chmod 0644 "$2.tmp" && mv -f "$2.tmp" "$2"
}
changed=" (unchanged)"
if install_if_changed "$ROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz"; then changed=; fi
if install_if_changed "$INITRD" "$OUT/initrd.img"; then changed=; fi
step "vmlinuz, initrd.img from the image, kernel $KVER$changed"

# --- 7. disk.qcow2 --------------------------------------------------------------
# Rebuilt when this script, the size or anything in the tree changed.
DISK_KEY=$( (echo "$PKG_KEY $INITRAMFS_KEY $DISK_SIZE $LABEL"; sha256sum < "$0") | key)
if [ ! -s "$OUT/disk.qcow2" ] || [ "$(cat "$STATE/disk.key" 2>/dev/null)" != "$DISK_KEY" ] ||
	[ -n "$(find "$ROOT" -xdev \( -newer "$OUT/disk.qcow2" -o -cnewer "$OUT/disk.qcow2" \) -print -quit)" ]; then
	[ -z "$(mounts_under "$ROOT")" ] || { echo "desktop: something is mounted under $ROOT" >&2; exit 1; }
	USED=$(du -sxm "$ROOT" | cut -f1)
	step "disk.qcow2: ext4 $DISK_SIZE from $ROOT (${USED} MiB used), mkfs.ext4 -d, qemu-img convert"
	rm -f "$OUT/root.img"
	truncate -s "$DISK_SIZE" "$OUT/root.img"
	# Inode tables and journal are zeroed now (not lazily in every VM's overlay);
	# qemu-img leaves the zeros out of the qcow2.
	mkfs.ext4 -q -F -L "$LABEL" -d "$ROOT" -E lazy_itable_init=0,lazy_journal_init=0 \
		"$OUT/root.img" || { rm -f "$OUT/root.img"; exit 1; }
	qemu-img convert -O qcow2 "$OUT/root.img" "$OUT/disk.qcow2.tmp"
	rm -f "$OUT/root.img"
	chmod 0644 "$OUT/disk.qcow2.tmp"
	mv -f "$OUT/disk.qcow2.tmp" "$OUT/disk.qcow2"
	echo "$DISK_KEY" > "$STATE/disk.key"
else
	step "disk.qcow2 (unchanged)"
fi

# --- 8. cmdline -----------------------------------------------------------------
echo "$CMDLINE" > "$STATE/cmdline"
if install_if_changed "$STATE/cmdline" "$OUT/cmdline"; then
	step "cmdline: $CMDLINE"
else
	step "cmdline: $CMDLINE (unchanged)"
fi

chmod 0755 "$OUT"
chmod 0644 "$OUT/vmlinuz" "$OUT/initrd.img" "$OUT/disk.qcow2" "$OUT/cmdline"
echo "desktop: done, disk.qcow2 $(du -h "$OUT/disk.qcow2" | cut -f1) (virtual $DISK_SIZE)," \
	"initrd.img $(du -h "$OUT/initrd.img" | cut -f1), vmlinuz $(du -h "$OUT/vmlinuz" | cut -f1)"
