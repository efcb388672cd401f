# Shared by the end-to-end tests: root, a real libvirtd, the testguest image
# (built once into the build tree), a running aulad, and polling helpers.
# shellcheck shell=bash
. "$(dirname "$0")/../integration/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (libvirtd's qemu:///system)"
command -v virsh >/dev/null || skip "virsh is not installed (libvirt-clients)"
setup_tmp
need_libvirt

# The guest image, built once into the build tree; the e2e tests run in
# parallel, so one builds while the others wait.
GUEST=$top_builddir/images/testguest
mkdir -p "$top_builddir/images"
build_guest() {
    flock "$top_builddir/images/.testguest.lock" \
        "$top_srcdir/packaging/images/testguest/build.sh" "$GUEST" >"$TMP/guest-build.log" 2>&1
}
# The kernel package is downloaded with apt: stale package lists are renewed once.
if ! build_guest && ! { apt-get update -q >/dev/null 2>&1 && build_guest; }; then
    tail -5 "$TMP/guest-build.log"
    grep -qi "download\|fetch\|resolve\|network" "$TMP/guest-build.log" &&
        skip "the testguest cannot be built here (its kernel package cannot be downloaded)"
    fail "the testguest did not build (see above)"
fi
ok "testguest built"

POOL=${POOL_PREFIX}lab
write_config "libvirt_uri = qemu:///system" "log_level = info" "allocate_timeout = 180"
start_aulad

# template_add NAME: the testguest as a template.
template_add() {
    expect_ok "template add $1" ctl template add "$1" --disk "$GUEST/disk.qcow2" --kernel "$GUEST/vmlinuz" \
        --initrd "$GUEST/initrd.img" --cmdline "$(cat "$GUEST/cmdline")" --memory 256M --vcpus 1 --video vga
}
vm_field() { ctl vm show "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$2"; }
alloc_vm() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm"])' "$1"; }

json_count() { python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# wait_until SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_until() {
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@"; do
        [ $((SECONDS - start)) -lt "$limit" ] || fail "$what: not within $limit s ($(ctl vm list 2>&1 | tail -4 | tr '\n' ' '))"
        sleep 1
    done
    ok "$what ($((SECONDS - start)) s)"
}
ready_count() { ctl vm list --pool "$POOL" --state ready --json | json_count; }
has_ready() { [ "$(ready_count)" -ge "$1" ]; }
serial() { cat "$STATE/logs/$1.serial.log" 2>/dev/null; }
serial_has() { serial "$1" | grep -q "$2"; }

