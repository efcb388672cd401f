#!/bin/bash
# aulad as a daemon: config errors with file:line, --dump-config, the state_dir
# lock, SIGHUP reload, SIGTERM, a stale socket, a newer database, daemon mode.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || skip "sqlite3 is not installed (packaging/debian-packages.txt)"
setup_tmp

# expect_config_error LINE-PREFIX MESSAGE CONFIG-LINES...: aulad refuses to start.
expect_config_error() {
    local where=$1 msg=$2 rc=0
    shift 2
    printf '%s\n' "$@" >"$TMP/bad.conf"
    "$AULAD" --config "$TMP/bad.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
    [ "$rc" -eq 1 ] || fail "config '$*': exit $rc, expected 1"
    grep -qF "$TMP/bad.conf:$where: $msg" "$TMP/out" || fail "config '$*': expected '$TMP/bad.conf:$where: $msg', got: $(cat "$TMP/out")"
    [ ! -e "$STATE" ] || fail "config '$*': aulad created $STATE before refusing"
    ok "config refused: $msg"
}
expect_config_error 2 "unknown setting 'colour'" "[aulad]" "colour = blue"
expect_config_error 3 "rdp_port = '0' must be a whole number from 1 to 65535" "[aulad]" "# comment" "rdp_port = 0"
expect_config_error 2 "vnc_port = '59x0' must be a whole number" "[aulad]" "vnc_port = 59x0"
expect_config_error 2 "hypervisor = 'xen' is not one of auto, kvm, qemu" "[aulad]" "hypervisor = xen"
expect_config_error 2 "state_dir must be an absolute path" "[aulad]" "state_dir = relative/dir"
expect_config_error 2 "api_address: 'localhost' is not an IP address" "[aulad]" "api_address = ::1,localhost"
expect_config_error 3 "'log_level' is already set on line 2" "[aulad]" "log_level = info" "log_level = debug"
expect_config_error 1 "unknown section [server]" "[server]" "rdp_port = 1"
expect_config_error 2 "expected 'name = value'" "[aulad]" "just words"
expect_config_error 1 "setting outside a section" "rdp_port = 1"
expect_config_error 2 "libvirt_uri must not be empty" "[aulad]" "libvirt_uri ="
rc=0
"$AULAD" --config "$TMP/none.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "none.conf" "$TMP/out" || fail "a missing config file is not refused clearly: $(cat "$TMP/out")"
ok "missing config file refused"
rc=0
"$AULAD" --frobnicate >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown option: exit $rc"
ok "unknown option refused"
"$AULAD" --help | grep -q -- "--dump-config" || fail "--help lacks --dump-config"
ok "--help"

# --dump-config prints every setting and loads back to the same values.
write_config "rdp_port = 13389" "admin_group = wheel"
"$AULAD" --config "$CONF" --dump-config >"$TMP/dump.conf" || fail "--dump-config failed"
grep -qx "rdp_port = 13389" "$TMP/dump.conf" || fail "--dump-config lacks the configured value"
for key in state_dir admin_socket admin_group libvirt_uri hypervisor rdp_address rdp_port vnc_address vnc_port api_address api_port log_level; do
    grep -q "^$key = " "$TMP/dump.conf" || fail "--dump-config lacks $key"
done
"$AULAD" --config "$TMP/dump.conf" --dump-config >"$TMP/dump2.conf" || fail "the dump does not load"
cmp -s "$TMP/dump.conf" "$TMP/dump2.conf" || fail "--dump-config does not round-trip"
ok "--dump-config covers every setting and round-trips"

# Start, refuse a second daemon on the same state_dir.
write_config
start_aulad
pid=$(tr -d '\n' <"$STATE/aulad.lock")
[ "$pid" = "$AULAD_PID" ] || fail "the lock file holds '$pid', not aulad's pid $AULAD_PID"
sed "s#^admin_socket = .*#admin_socket = $TMP/other.sock#" "$CONF" >"$TMP/second.conf"
rc=0
"$AULAD" --config "$TMP/second.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "a second aulad on the same state_dir: exit $rc"
grep -q "another aulad (pid $AULAD_PID) is using $STATE" "$TMP/out" || fail "second aulad message: $(cat "$TMP/out")"
ok "a second aulad on the same state_dir is refused"

# Another state_dir but the same socket: refused, the first keeps its socket.
sed "s#^state_dir = .*#state_dir = $TMP/state2#" "$CONF" >"$TMP/third.conf"
rc=0
"$AULAD" --config "$TMP/third.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "is served by another process" "$TMP/out" || fail "socket clash: exit $rc: $(cat "$TMP/out")"
ctl status >/dev/null || fail "the first aulad lost its socket"
ok "a socket in use is not stolen"

# SIGHUP: reloadable settings apply, others are reported, a bad file is ignored.
write_config "log_level = warning" "rdp_port = 3390"
kill -HUP "$AULAD_PID"
for _ in $(seq 1 50); do grep -q "SIGHUP: reloaded" "$TMP/aulad.log" && break; sleep 0.1; done
grep -q "changed settings that need a restart: rdp_port" "$TMP/aulad.log" || fail "SIGHUP did not report rdp_port: $(tail -3 "$TMP/aulad.log")"
ok "SIGHUP reloads and names settings that need a restart"
lines=$(wc -l <"$TMP/aulad.log")
ctl user list >/dev/null
sleep 0.2
[ "$(wc -l <"$TMP/aulad.log")" -eq "$lines" ] || fail "log_level = warning still logs info/debug: $(tail -2 "$TMP/aulad.log")"
ok "the reloaded log_level applies"
bad_line=$(($(wc -l <"$CONF") + 1))
echo "bogus line" >>"$CONF"
kill -HUP "$AULAD_PID"
for _ in $(seq 1 50); do grep -q "keeping the running settings" "$TMP/aulad.log" && break; sleep 0.1; done
grep -q "keeping the running settings: $CONF:$bad_line: expected 'name = value'" "$TMP/aulad.log" || fail "a bad file on SIGHUP: $(tail -2 "$TMP/aulad.log")"
ctl status >/dev/null || fail "aulad stopped answering after a bad reload"
ok "a bad config on SIGHUP keeps the running settings"
write_config

# SIGTERM stops cleanly; data survives a restart.
echo pw | ctl user add carol --password-stdin >/dev/null || fail "user add"
stop_aulad
ok "SIGTERM stops aulad with status 0 and removes its socket"
start_aulad
ctl user show carol >/dev/null || fail "carol did not survive a restart"
ok "data survives a restart"

# kill -9 leaves a stale socket and lock: the next start takes over.
kill -KILL "$AULAD_PID"
wait "$AULAD_PID" 2>/dev/null
AULAD_PID=
[ -S "$SOCK" ] || fail "expected a stale socket after kill -9"
start_aulad
ok "restart after kill -9 replaces the stale socket"
stop_aulad

# A path that is not a socket is never removed.
echo precious >"$TMP/file.sock"
sed "s#^admin_socket = .*#admin_socket = $TMP/file.sock#" "$CONF" >"$TMP/file.conf"
rc=0
"$AULAD" --config "$TMP/file.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "exists and is not a socket" "$TMP/out" && grep -qx precious "$TMP/file.sock" \
    || fail "a non-socket admin_socket path: exit $rc: $(cat "$TMP/out")"
ok "a non-socket file at admin_socket is refused and kept"

# A database from a newer aula is refused, untouched.
sqlite3 "$DB" "PRAGMA user_version = 99"
sum=$(sha256sum "$DB")
rc=0
"$AULAD" --config "$CONF" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "newer database: exit $rc"
grep -q "has schema version 99, newer than this aula knows (3)" "$TMP/out" || fail "newer database message: $(cat "$TMP/out")"
[ "$sum" = "$(sha256sum "$DB")" ] || fail "the newer database was modified"
ok "a newer database is refused and left as it was"
sqlite3 "$DB" "PRAGMA user_version = 3"

# A file that is not a database.
mkdir -p "$TMP/junk"
echo "not a database" >"$TMP/junk/aula.db"
sed "s#^state_dir = .*#state_dir = $TMP/junk#" "$CONF" >"$TMP/junk.conf"
rc=0
"$AULAD" --config "$TMP/junk.conf" --foreground >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot use the database" "$TMP/out" || fail "a non-database file: exit $rc: $(cat "$TMP/out")"
ok "a file that is not a database is refused"

# Daemon mode: returns once serving, keeps serving, stops on SIGTERM.
"$AULAD" --config "$CONF" || fail "aulad (daemon mode) failed to start"
ctl status >/dev/null || fail "the daemon does not answer right after start"
pid=$(tr -d '\n' <"$STATE/aulad.lock")
kill -0 "$pid" || fail "no daemon with the pid in the lock file"
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the daemon did not stop on SIGTERM"
[ ! -e "$SOCK" ] || fail "the daemon left its socket"
ok "daemon mode: ready on return, stops on SIGTERM"
rc=0
"$AULAD" --config "$TMP/bad.conf" >"$TMP/out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "daemon mode with a bad config: exit $rc"
ok "daemon mode reports a bad config with a failing exit"

finish
