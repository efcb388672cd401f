# Shared helpers for the integration tests: start the real aulad on a private
# socket and a temporary database, drive the real aulactl, fail loudly.
# shellcheck shell=bash
set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=${top_srcdir:-$top_builddir}
AULAD=$top_builddir/broker/aulad
AULACTL=$top_builddir/broker/aulactl
TEST_NAME=$(basename "$0" .sh)
AULAD_PID=
CHECKS=0

fail() {
    echo "FAIL: $TEST_NAME: $*" >&2
    if [ -n "${TMP:-}" ] && [ -f "$TMP/aulad.log" ]; then
        echo "--- aulad log (last 30 lines)" >&2
        tail -30 "$TMP/aulad.log" >&2
    fi
    exit 1
}

skip() {
    echo "SKIP: $TEST_NAME: $*"
    exit 77
}

ok() {
    CHECKS=$((CHECKS + 1))
    echo "ok $CHECKS - $*"
}

cleanup() {
    if [ -n "$AULAD_PID" ] && kill -0 "$AULAD_PID" 2>/dev/null; then
        kill -KILL "$AULAD_PID" 2>/dev/null
        wait "$AULAD_PID" 2>/dev/null
    fi
    if [ -n "${USES_LIBVIRT:-}" ]; then
        # libvirtd finishes calls a killed aulad had under way.
        sleep 1
        # Domains of this test's pools, then its storage pool.
        for dom in $(virsh -c qemu:///system list --all --name 2>/dev/null | grep -E "^aula-(${POOL_PREFIX:-none})" || true); do
            virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1
            virsh -c qemu:///system undefine --nvram "$dom" >/dev/null 2>&1
        done
        virsh -c qemu:///system pool-destroy "$STORAGE_POOL" >/dev/null 2>&1
        virsh -c qemu:///system pool-undefine "$STORAGE_POOL" >/dev/null 2>&1
    fi
    [ -n "${TMP:-}" ] && [ -z "${KEEP_TMP:-}" ] && rm -rf "$TMP"
}

# The test talks to the real libvirtd (qemu:///system): start it if needed
# and possible, else skip. Each test gets a storage pool of its own, and
# names its desktop pools with the prefix $POOL_PREFIX so that parallel tests
# never share a domain.
need_libvirt() {
    if ! timeout 20 virsh -c qemu:///system version >/dev/null 2>&1; then
        if [ "$(id -u)" -eq 0 ]; then
            "$top_srcdir/packaging/libvirtd-ensure.sh" >/dev/null || true
        fi
        timeout 20 virsh -c qemu:///system version >/dev/null 2>&1 ||
            skip "libvirtd (qemu:///system) is not running and cannot be started here"
    fi
    USES_LIBVIRT=1
    STORAGE_POOL=aula-test-$$
    POOL_PREFIX=t$$
    LIBVIRT_URI=qemu:///system
}

# A private directory that unprivileged test users can traverse.
setup_tmp() {
    TMP=$(mktemp -d /tmp/aula-test.XXXXXX)
    chmod 755 "$TMP"
    trap cleanup EXIT
    STATE=$TMP/state
    SOCK=$TMP/admin.sock
    CONF=$TMP/aulad.conf
    DB=$STATE/aula.db
    VNC_PORT=$(free_port)
    API_PORT=$(free_port)
    RDP_PORT=$(free_port)
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The account session processes run as: aula (packaging creates it), else
# nobody on a machine set up without the packaging scripts.
session_user() {
    if id aula >/dev/null 2>&1; then echo aula; else echo nobody; fi
}

# write_config ["key = value" lines...]: the test defaults, overridden by the arguments.
write_config() {
    local line key
    {
        echo "[aulad]"
        for line in "state_dir = $STATE" "admin_socket = $SOCK" "libvirt_uri = ${LIBVIRT_URI:-test:///default}" \
            "hypervisor = qemu" "log_level = debug" "storage_pool = ${STORAGE_POOL:-aula-test}" \
            "vnc_address = 127.0.0.1" "vnc_port = $VNC_PORT" "api_address = 127.0.0.1" \
            "api_port = $API_PORT" "rdp_address = 127.0.0.1" "rdp_port = $RDP_PORT" \
            "session_program = ${SESSION_PROGRAM:-$top_builddir/display/aula-session}" "session_user = $(session_user)"; do
            key=${line%% =*}
            printf '%s\n' "$@" | grep -q "^$key *=" || echo "$line"
        done
        for line in "$@"; do echo "$line"; done
    } >"$CONF"
}

# Start aulad in the foreground (in the background of this shell) and wait for its socket.
start_aulad() {
    "$AULAD" --config "$CONF" --foreground >>"$TMP/aulad.log" 2>&1 &
    AULAD_PID=$!
    for _ in $(seq 1 200); do
        if [ -S "$SOCK" ] && "$AULACTL" --socket "$SOCK" status >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$AULAD_PID" 2>/dev/null || fail "aulad exited during start-up"
        sleep 0.05
    done
    fail "aulad did not answer on $SOCK within 10 s"
}

# Stop aulad with SIGTERM; it must exit 0 (under ASan that includes no leaks).
stop_aulad() {
    local rc=0
    kill -TERM "$AULAD_PID" || fail "aulad is not running"
    wait "$AULAD_PID" || rc=$?
    AULAD_PID=
    [ "$rc" -eq 0 ] || fail "aulad exited with status $rc after SIGTERM"
    # Session processes report to aulad's log: a sanitizer's report there
    # (a sanitized build) is a failure like aulad's own.
    if grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$TMP/aulad.log" >"$TMP/sanitizer" 2>/dev/null; then
        fail "a sanitizer reported in aulad's log: $(head -3 "$TMP/sanitizer")"
    fi
    [ ! -e "$SOCK" ] || fail "aulad left its socket $SOCK behind"
}

ctl() {
    "$AULACTL" --socket "$SOCK" "$@"
}

# Every row of every table: to prove a refused command changed nothing.
db_dump() {
    sqlite3 "file:$DB?mode=ro" .dump
}

# expect_ok DESCRIPTION COMMAND...: exit 0.
expect_ok() {
    local what=$1
    shift
    "$@" >"$TMP/out" 2>"$TMP/err" || fail "$what: exit $? (stderr: $(cat "$TMP/err"))"
    ok "$what"
}

# expect_refused CODE MESSAGE DESCRIPTION COMMAND...: exits CODE with one line on
# stderr containing MESSAGE, nothing on stdout, and the database unchanged.
expect_refused() {
    local code=$1 msg=$2 what=$3 rc=0 before after
    shift 3
    before=$(db_dump)
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
    after=$(db_dump)
    [ "$rc" -eq "$code" ] || fail "$what: exit $rc, expected $code (stderr: $(cat "$TMP/err"))"
    grep -qF -- "$msg" "$TMP/err" || fail "$what: stderr lacks '$msg': $(cat "$TMP/err")"
    [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$what: expected a one-line error, got: $(cat "$TMP/err")"
    [ ! -s "$TMP/out" ] || fail "$what: unexpected output: $(cat "$TMP/out")"
    [ "$before" = "$after" ] || fail "$what: the database changed: $(diff <(echo "$before") <(echo "$after") | head -5)"
    ok "$what"
}

# expect_out PATTERN: the last command's stdout matches the extended regex.
expect_out() {
    grep -qE -- "$1" "$TMP/out" || fail "output lacks /$1/: $(cat "$TMP/out")"
}

finish() {
    echo "$TEST_NAME: $CHECKS checks passed"
    exit 0
}
