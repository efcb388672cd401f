#!/bin/bash
# End to end: aula-client logs in at aulad and shows a pool's desktop over VNC.
# Real libvirtd, the testguest under TCG, the real aulad and aula-session,
# and aula-client under Xvfb (SDL2's X11 driver):
#   a wrong password: exit 1 and the reason on stderr;
#   the right one: a window titled "aula — POOL" the size of the desktop whose
#   picture equals `virsh screenshot`; keys typed in it reach the guest;
#   killing the client disconnects the session.
. "$(dirname "$0")/e2e.sh"

CLIENT=$top_builddir/thinclient/aula-client
[ -x "$CLIENT" ] || skip "aula-client is not built (configure --enable-thinclient)"
# In a sanitized build, SDL2's X11 back end leaves allocations in driver
# modules it has already unloaded at exit: LeakSanitizer cannot name them,
# so no suppression can match. Leak checking is off for the window client
# only (AddressSanitizer's other checks stay on); its broker code is leak
# checked by test_tc_api.
CLIENT_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
for tool in xdotool Xvfb xwd xdpyinfo; do
    command -v $tool >/dev/null || skip "$tool is not installed (see packaging/debian-packages.txt)"
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
$PY -c 'import PIL' 2>/dev/null || skip "python3-pil is not installed"
VT="$PY $top_srcdir/tests/e2e/vnctool.py"

stop_aulad
write_config "libvirt_uri = qemu:///system" "log_level = debug" "allocate_timeout = 180"
start_aulad

template_add tg
expect_ok "pool create" ctl pool create "$POOL" --template tg --min 0 --max 2 --spare 1 --network none \
    --disconnect-timeout 5m
echo alicepw | ctl user add alice --password-stdin >/dev/null || fail "user add alice"
ctl entitle --user alice --pool "$POOL" >/dev/null || fail "entitle"

DISPLAY_NUM=$((200 + $$ % 50))
Xvfb ":$DISPLAY_NUM" -screen 0 1280x1024x24 -nolisten tcp >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
CLIENT_PID=
trap 'kill $CLIENT_PID $XVFB_PID 2>/dev/null; cleanup' EXIT
export DISPLAY=":$DISPLAY_NUM" SDL_VIDEODRIVER=x11
for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
xdpyinfo >/dev/null 2>&1 || fail "Xvfb did not start: $(cat "$TMP/xvfb.log")"

# No client.conf of the system: an empty one of our own.
: >"$TMP/client.conf"
COMMON=(--config "$TMP/client.conf" --broker "127.0.0.1:$API_PORT" --tofu)
client() { env ASAN_OPTIONS="$CLIENT_ASAN" "$CLIENT" "${COMMON[@]}" --known-brokers "$TMP/known_brokers" "$@"; }
echo alicepw >"$TMP/pw"

# ---- a wrong password: exit 1, and why ----
echo wrong | client --user alice --password-stdin --pool "$POOL" >"$TMP/wrong.out" 2>"$TMP/wrong.err"
rc=$?
[ "$rc" = 1 ] || fail "a wrong password exits $rc, not 1 ($(cat "$TMP/wrong.err"))"
grep -qi "wrong user name or password" "$TMP/wrong.err" || fail "no clear message for a wrong password: $(cat "$TMP/wrong.err")"
ok "a wrong password: exit 1 and \"$(grep "^aula-client:" "$TMP/wrong.err")\""
grep -q "127.0.0.1:$API_PORT sha256:" "$TMP/known_brokers" || fail "tofu stored no fingerprint: $(cat "$TMP/known_brokers" 2>&1)"
ok "tofu stored the broker's fingerprint in known_brokers"

# A certificate other than the one stored is refused.
sed "s/sha256:[0-9A-F:]*/sha256:$(printf '00:%.0s' $(seq 1 31))00/" "$TMP/known_brokers" >"$TMP/kb-other"
env ASAN_OPTIONS="$CLIENT_ASAN" "$CLIENT" "${COMMON[@]}" --known-brokers "$TMP/kb-other" --user alice --password-stdin --pool "$POOL" \
    <"$TMP/pw" 2>"$TMP/changed.err"
rc=$?
[ "$rc" = 1 ] && grep -qi "certificate" "$TMP/changed.err" || fail "a changed certificate: exit $rc, $(cat "$TMP/changed.err")"
ok "a changed certificate: exit 1 and \"$(grep "^aula-client:" "$TMP/changed.err")\""

wait_until 120 "a spare is ready" has_ready 1
SPARE=$(ctl vm list --pool "$POOL" --state ready --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')
wait_until 90 "$SPARE's guest boots" serial_has "$SPARE" "TESTGUEST ready"

# ---- the desktop in a window ----
session_state() { ctl session list --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(s[0]["state"] if s else "none")'; }
connected() { [ "$(session_state)" = connected ]; }
disconnected() { [ "$(session_state)" = disconnected ]; }

# Started directly (not through a function) so that $! is aula-client itself.
env ASAN_OPTIONS="$CLIENT_ASAN" "$CLIENT" "${COMMON[@]}" --known-brokers "$TMP/known_brokers" --user alice --password-stdin \
    --pool "$POOL" <"$TMP/pw" >"$TMP/client.log" 2>&1 &
CLIENT_PID=$!
wait_until 30 "aula-client: connected" connected
VM=$(ctl session list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["vm"])')
# The window: aula-client makes it once the desktop's connection is set up.
client_window() {
    WIN=
    for _ in $(seq 1 100); do
        WIN=$(xdotool search --pid "$CLIENT_PID" --onlyvisible 2>/dev/null | tail -1)
        [ -n "$WIN" ] && return 0
        sleep 0.2
    done
    fail "aula-client shows no window ($(cat "$1"))"
}
client_window "$TMP/client.log"
title=$(xdotool getwindowname "$WIN")
[ "$title" = "aula — $POOL" ] || fail "the window is titled '$title'"
ok "aula-client's window is titled '$title'"
eval "$(xdotool getwindowgeometry --shell "$WIN")"
[ "${WIDTH}x$HEIGHT" = 1024x768 ] || fail "the window is ${WIDTH}x$HEIGHT, not the desktop's 1024x768"
ok "the window is the desktop's size (${WIDTH}x$HEIGHT)"

shot() {
    xwd -silent -id "$WIN" >"$TMP/$1.xwd" || fail "xwd"
    $VT xwd "$TMP/$1.xwd" "$TMP/$1.png" || fail "xwd to png"
}
# same_picture NAME: the window shows what the VM shows (the static part:
# title, colour bars, grey ramp; the animated strip and event log may move).
same_picture() {
    local d
    virsh -c qemu:///system screenshot "$VM" "$TMP/$1-vm.ppm" >/dev/null || fail "virsh screenshot"
    d=$($VT diff "$TMP/$1.png" "$TMP/$1-vm.ppm" 0,0,1024,232) || return 1
    echo "$d"
    $PY -c "import sys; sys.exit(0 if float('$d') < 2.0 else 1)"
}
sleep 2
shot view
d=$(same_picture view) || { sleep 3; shot view; d=$(same_picture view); } ||
    fail "the client's picture differs from the VM's screen: $d% (see $TMP/view.png)"
ok "the client's picture matches virsh screenshot ($d% of pixels differ)"

# ---- keys ----
typed_keys() { serial "$VM" | grep -c "key .* down"; }
before=$(typed_keys)
xdotool windowactivate --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
sleep 0.5
xdotool type --delay 120 "aula"
wait_until 20 "typed keys reach the guest" sh -c "[ \$(grep -c 'key .* down' '$STATE/logs/$VM.serial.log') -ge $((before + 4)) ]"
serial "$VM" | grep "key .* down" | tail -4 | grep -q "key 30 down" ||
    fail "the guest did not see 'a' (key 30): $(serial "$VM" | grep key | tail -4)"
ok "the guest saw the keys typed in aula-client"
before=$(typed_keys)
xdotool key Return F5 Left
wait_until 20 "Return, F5 and Left reach the guest" sh -c "[ \$(grep -c 'key .* down' '$STATE/logs/$VM.serial.log') -ge $((before + 3)) ]"
# Linux key codes: Enter 28, F5 63, Left 105.
keys=$(serial "$VM" | grep "key .* down" | tail -3 | grep -o "key [0-9]*" | tr '\n' ' ')
[ "$keys" = "key 28 key 63 key 105 " ] || fail "the guest saw $keys for Return F5 Left"
ok "Return, F5 and Left arrive as themselves"

kill "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null
CLIENT_PID=
wait_until 20 "killing aula-client disconnects the session" disconnected
ok "killing aula-client disconnects the session, the VM kept"

# ---- the server ends the connection: exit 0, and why ----
env ASAN_OPTIONS="$CLIENT_ASAN" "$CLIENT" "${COMMON[@]}" --known-brokers "$TMP/known_brokers" --user alice --password-stdin \
    --pool "$POOL" <"$TMP/pw" >"$TMP/client2.log" 2>&1 &
CLIENT_PID=$!
wait_until 30 "aula-client: connected again" connected
client_window "$TMP/client2.log"
ID=$(ctl session list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
expect_ok "session logoff" ctl session logoff "$ID"
for _ in $(seq 1 100); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.2; done
kill -0 "$CLIENT_PID" 2>/dev/null && fail "aula-client goes on after its session was logged off"
wait "$CLIENT_PID"
rc=$?
CLIENT_PID=
[ "$rc" = 0 ] || fail "aula-client exits $rc after a logoff ($(cat "$TMP/client2.log"))"
grep -q "^aula-client: the desktop's connection closed" "$TMP/client2.log" || fail "no message at the end: $(cat "$TMP/client2.log")"
ok "a logoff at the broker ends aula-client with exit 0 and a message"

kill "$XVFB_PID" 2>/dev/null
stop_aulad
echo "PASS: $TEST_NAME ($CHECKS checks)"
