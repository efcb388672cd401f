#!/bin/bash
# aula quickstart.
#   sudo packaging/quickstart.sh demo   install, build, start libvirtd, run aulad in the foreground
#   packaging/quickstart.sh test        install, build with ASan/UBSan, run `make check`
# Both install the Debian packages listed in packaging/debian-packages.txt and
# are safe to run again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
mode=${1:-}

say() { printf '==> %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root for: $* (run this script with sudo)"
    fi
}

install_packages() {
    local pkgs missing=()
    pkgs=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$here/debian-packages.txt")
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "Debian packages: all $(echo $pkgs | wc -w) installed"
        return
    fi
    say "installing ${#missing[@]} Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# The unprivileged account aula-session processes run as (as a Debian
# package's postinst would create it).
ensure_session_user() {
    id aula >/dev/null 2>&1 && return
    say "creating the system user 'aula' for session processes"
    as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin aula
}

# build DIR [configure flags...]: out-of-tree build, configured once.
build() {
    local dir=$1
    shift
    if [ -f "$top/config.status" ]; then
        die "the source tree is configured in place; run 'make distclean' in $top first"
    fi
    if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
        say "autoreconf"
        (cd "$top" && autoreconf -fi >/dev/null 2>&1) || die "autoreconf failed"
    fi
    mkdir -p "$dir"
    if [ ! -f "$dir/Makefile" ]; then
        say "configure $*"
        (cd "$dir" && "$top/configure" -q --enable-werror "$@") || die "configure failed (see $dir/config.log)"
    fi
    say "make"
    make -C "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log"; die "build failed (log: $dir/build.log)"; }
}

run_tests() {
    local dir="$top/build/test" rc=0
    install_packages
    ensure_session_user
    build "$dir" --enable-asan
    say "make check"
    make -C "$dir" -j"$(nproc)" check >"$dir/check.log" 2>&1 || rc=$?
    grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$dir/check.log" || true
    if [ -f "$dir/test-suite.log" ]; then
        local total pass fail skip xfail xpass error
        total=$(sed -n 's/^# TOTAL: *//p' "$dir/test-suite.log")
        pass=$(sed -n 's/^# PASS: *//p' "$dir/test-suite.log")
        skip=$(sed -n 's/^# SKIP: *//p' "$dir/test-suite.log")
        xfail=$(sed -n 's/^# XFAIL: *//p' "$dir/test-suite.log")
        fail=$(sed -n 's/^# FAIL: *//p' "$dir/test-suite.log")
        xpass=$(sed -n 's/^# XPASS: *//p' "$dir/test-suite.log")
        error=$(sed -n 's/^# ERROR: *//p' "$dir/test-suite.log")
        if [ "$rc" -ne 0 ]; then
            sed -n '/^FAIL\|^ERROR/,$p' "$dir/test-suite.log" | head -200
        fi
        echo "test totals: $total tests ($pass passed, $fail failed, $error errors, $skip skipped, $xfail xfail, $xpass xpass)"
        echo "$((pass + xfail)) passed, $((fail + error + xpass)) failed, $skip skipped"
    else
        tail -40 "$dir/check.log"
        echo "0 passed, 1 failed"
    fi
    [ "$rc" -eq 0 ] || die "make check failed (logs: $dir/test-suite.log)"
}

run_demo() {
    local dir="$top/build/demo" conf state=/var/lib/aula sock=/run/aula/admin.sock pid
    local guest ctl pw start
    [ "$(id -u)" -eq 0 ] || die "the demo runs aulad as root: sudo $0 demo"
    install_packages
    ensure_session_user
    build "$dir"
    "$here/libvirtd-ensure.sh"
    guest="$dir/images/testguest"
    say "building the testguest image (cached in $guest)"
    "$here/images/testguest/build.sh" "$guest" | sed 's/^/    /' || die "the testguest image did not build"
    conf="$dir/aulad.conf"
    cat >"$conf" <<CONF
# aula demo configuration (written by packaging/quickstart.sh demo)
[aulad]
state_dir = $state
admin_socket = $sock
libvirt_uri = qemu:///system
# qemu (TCG) works on every machine, nested virtualization included;
# set auto to use KVM where the host offers it.
hypervisor = qemu
log_level = info
# aula-session runs from the build tree (make install puts it in libexec)
session_program = $dir/display/aula-session
CONF
    mkdir -p "$state"
    say "starting aulad (state in $state, admin socket $sock); Ctrl-C stops it"
    "$dir/broker/aulad" --config "$conf" --foreground &
    pid=$!
    trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; exit 0' INT TERM
    ctl="$dir/broker/aulactl --socket $sock"
    for _ in $(seq 1 100); do
        [ -S "$sock" ] && $ctl status >/dev/null 2>&1 && break
        kill -0 $pid 2>/dev/null || die "aulad exited (see its messages above)"
        sleep 0.1
    done

    # The demo pool: the testguest as template "demo", 2 spares, user "demo".
    if ! $ctl template show demo >/dev/null 2>&1; then
        $ctl template add demo --disk "$guest/disk.qcow2" --kernel "$guest/vmlinuz" \
            --initrd "$guest/initrd.img" --cmdline "$(cat "$guest/cmdline")" \
            --memory 256M --vcpus 1 --video vga || die "cannot register the demo template"
    fi
    if ! $ctl pool show demo >/dev/null 2>&1; then
        $ctl pool create demo --template demo --min 0 --max 4 --spare 2 --network none ||
            die "cannot create the demo pool"
    fi
    if ! $ctl user show demo >/dev/null 2>&1; then
        pw=$(head -c 12 /dev/urandom | base64 | tr -d '/+=' | head -c 12)
        echo "$pw" | $ctl user add demo --full-name "Demo user" --password-stdin >/dev/null ||
            die "cannot add the demo user"
        $ctl entitle --user demo --pool demo >/dev/null || die "cannot entitle the demo user"
        say "user 'demo' created; its password (shown only now): $pw"
    else
        say "user 'demo' exists (its password was shown when it was created; aulactl user passwd demo sets a new one)"
    fi
    start=$SECONDS
    until [ "$($ctl vm list --pool demo --state ready --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -ge 2 ]; do
        printf '\r    waiting for 2 ready spares: %s  (%d s)' \
            "$($ctl vm list --pool demo --json | python3 -c 'import json,sys; print(", ".join(v["name"] + " " + v["state"] for v in json.load(sys.stdin)) or "none yet")')" \
            $((SECONDS - start))
        [ $((SECONDS - start)) -lt 300 ] || { echo; die "the spares did not become ready within 300 s ($ctl vm list)"; }
        kill -0 $pid 2>/dev/null || { echo; die "aulad exited"; }
        sleep 1
    done
    printf '\n'
    echo
    $ctl status
    echo
    $ctl pool show demo
    cat <<TXT

aulad is running in the foreground with the pool "demo" (2 spares booted).

See the demo desktop over RDP (user "demo", the password printed when the
user was created; the certificate is self-signed, its fingerprint is in the
status above):
  xfreerdp /v:HOST:3389 /u:demo /p:PASSWORD /cert:ignore /gfx:avc420
  mstsc: Computer "HOST", then user name "demo" and the password; accept the
         certificate warning (or give the client aulad's certificate).
  With no user name the session shows its own login screen. "demo@demo" names
  the pool. HOST is this machine's name or address (localhost here).

Or with a VNC viewer (the password is a one-time ticket, valid 60 s):
  TOKEN=\$(curl -sk https://localhost:8443/api/v1/login \\
      -d '{"username":"demo","password":"PASSWORD"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -sk https://localhost:8443/api/v1/pools/demo/connect -H "Authorization: Bearer \$TOKEN" \\
      -d '{"protocol":"vnc"}'
  vncviewer localhost::5900        # type the "ticket" as the password

Admin, in another terminal, as root:
  $dir/broker/aulactl --socket $sock session list
  $dir/broker/aulactl --socket $sock vm list
  $dir/broker/aulactl --socket $sock --help
aula-client and application streaming are not in this version yet. Configuration: $conf (see docs/aulad.conf.5); stop with Ctrl-C.
TXT
    wait $pid
}

case "$mode" in
    demo) run_demo ;;
    test) run_tests ;;
    *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
