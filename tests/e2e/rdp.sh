#!/bin/bash
# End to end: RDP clients straight to aulad, with a user name and password.
# Real libvirtd, the testguest under TCG, the real aulad and aula-session, and
# real clients under Xvfb: xfreerdp with the graphics pipeline (AVC420) and
# without it (bitmap updates), and rdesktop.
#   each logs in with user name and password, sees the guest (window dump vs
#   `virsh screenshot`), types and clicks and the guest sees them, disconnects and
#   reconnects to the same VM;
#   the guest's lock keys follow the client's Caps Lock, judged by the
#   guest's LEDs; a resized window asks the guest for its size;
#   no credentials: the session's login screen, filled in with xdotool;
#   a wrong password: the login screen with an error, an audit row; repeated
#   failures are rate-limited;
#   garbage and truncated handshakes close only their own connection.
. "$(dirname "$0")/e2e.sh"

for tool in xfreerdp rdesktop xdotool Xvfb xwd; do
    command -v $tool >/dev/null || skip "$tool is not installed (see packaging/debian-packages.txt)"
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
$PY -c 'import PIL' 2>/dev/null || skip "python3-pil is not installed"
VT="$PY $top_srcdir/tests/e2e/vnctool.py"

stop_aulad
write_config "libvirt_uri = qemu:///system" "log_level = debug" "allocate_timeout = 180" \
    "login_max_failures = 3" "login_lockout = 30"
start_aulad

template_add tg
expect_ok "pool create" ctl pool create "$POOL" --template tg --min 0 --max 3 --spare 1 --network none \
    --disconnect-timeout 5m
echo alicepw | ctl user add alice --password-stdin >/dev/null || fail "user add alice"
echo bobpw | ctl user add bob --password-stdin >/dev/null || fail "user add bob"
ctl entitle --user alice --pool "$POOL" >/dev/null || fail "entitle"
ctl status | grep -E "rdp .*listening" >/dev/null || fail "status does not show the RDP listener: $(ctl status)"
ok "status shows RDP listening"

wait_until 120 "a spare is ready" has_ready 1
SPARE=$(ctl vm list --pool "$POOL" --state ready --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')
wait_until 90 "$SPARE's guest boots" serial_has "$SPARE" "TESTGUEST ready"

DISPLAY_NUM=$((150 + $$ % 100))
# -noreset: the lock keys' state must outlive the X clients.
Xvfb ":$DISPLAY_NUM" -screen 0 1280x1024x24 -nolisten tcp -noreset >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
CLIENT_PID=
trap 'kill $CLIENT_PID $XVFB_PID 2>/dev/null; cleanup' EXIT
export DISPLAY=":$DISPLAY_NUM"
for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

session_state() { ctl session list --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(s[0]["state"] if s else "none")'; }
connected() { [ "$(session_state)" = connected ]; }
disconnected() { [ "$(session_state)" = disconnected ]; }
window_of() {  # window_of PID: the client's top-level window
    local w
    for _ in $(seq 1 100); do
        w=$(xdotool search --pid "$1" --onlyvisible 2>/dev/null | tail -1)
        [ -n "$w" ] && { echo "$w"; return 0; }
        sleep 0.2
    done
    return 1
}
# shot NAME: the client's window as $TMP/NAME.png
shot() {
    xwd -silent -id "$WIN" >"$TMP/$1.xwd" || fail "xwd"
    $VT xwd "$TMP/$1.xwd" "$TMP/$1.png" || fail "xwd to png"
}
# same_picture NAME: the window shows what the VM shows (static part of the screen)
same_picture() {
    local vm=$1 name=$2 d
    virsh -c qemu:///system screenshot "$vm" "$TMP/$name-vm.ppm" >/dev/null || fail "virsh screenshot"
    $PY - "$TMP/$name.png" "$TMP/$name-vm.ppm" "$TMP/$name-crop.png" <<'EOF' || return 1
import sys
from PIL import Image
win = Image.open(sys.argv[1]).convert("RGB")
vm = Image.open(sys.argv[2]).convert("RGB")
# The window may have decorations or be larger: find the VM's 1024x768 picture in it.
W, H = vm.size
if win.size[0] < W or win.size[1] < H:
    print("window %dx%d is smaller than the desktop %dx%d" % (win.size + vm.size)); sys.exit(1)
win.crop((0, 0, W, H)).save(sys.argv[3])
EOF
    d=$($VT diff "$TMP/$name-crop.png" "$TMP/$name-vm.ppm" 0,0,1024,232)
    echo "$d"
    $PY -c "import sys; sys.exit(0 if float('$d') < 2.0 else 1)"
}
typed_keys() { serial "$1" | grep -c "key .* down"; }

# run_client NAME COMMAND...: start an RDP client, wait until it shows the
# desktop, compare pictures, type, and disconnect.
run_client() {
    local name=$1 before d started
    shift
    started=$(grep -c "H.264 encoder started" "$TMP/aulad.log")
    # rdesktop asks on stdin whether to trust the self-signed certificate.
    echo yes >"$TMP/yes"
    "$@" <"$TMP/yes" >"$TMP/$name.log" 2>&1 &
    CLIENT_PID=$!
    wait_until 30 "$name: connected" connected
    VM=$(ctl session list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["vm"])')
    WIN=$(window_of "$CLIENT_PID") || fail "$name: no window ($(tail -5 "$TMP/$name.log"))"
    sleep 2
    shot "$name"
    d=$(same_picture "$VM" "$name") || { sleep 3; shot "$name"; d=$(same_picture "$VM" "$name"); } ||
        fail "$name: the client's picture differs from the VM's screen: $d% (see $TMP/$name.png)"
    ok "$name: the picture matches virsh screenshot ($d% of pixels differ)"
    before=$(typed_keys "$VM")
    xdotool windowactivate --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
    sleep 0.5
    xdotool type --delay 120 "aula"
    wait_until 20 "$name: typed keys reach the guest" sh -c "[ \$(grep -c 'key .* down' '$STATE/logs/$VM.serial.log') -ge $((before + 4)) ]"
    # A click: the guest reports the pointer with the left button held.
    clicks=$(serial "$VM" | grep -c "pointer .* buttons 1" || true)
    xdotool mousemove --window "$WIN" 300 200 click 1
    wait_until 20 "$name: a click reaches the guest" sh -c "[ \$(grep -c 'pointer .* buttons 1' '$STATE/logs/$VM.serial.log') -gt $clicks ]"
    enc=$(ctl session list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["encoding"])')
    ok "$name: encoding $enc"
    if [ "$enc" = avc420 ]; then
        # Small changes go as lossless tiles; a whole new screen (F9 redraws
        # the guest's picture) goes as H.264. The picture must still match.
        xdotool key F9
        wait_until 30 "$name: an H.264 frame in this session" sh -c "[ \$(grep -c 'H.264 encoder started' '$TMP/aulad.log') -gt $started ]"
        sleep 1
        shot "$name-h264"
        d=$(same_picture "$VM" "$name-h264") || { sleep 3; shot "$name-h264"; d=$(same_picture "$VM" "$name-h264"); } ||
            fail "$name: after an H.264 frame the picture differs: $d% (see $TMP/$name-h264.png)"
        ok "$name: a full-screen change goes as H.264 and the picture matches ($d% of pixels differ)"
    fi
    kill "$CLIENT_PID"
    wait "$CLIENT_PID" 2>/dev/null
    CLIENT_PID=
    wait_until 20 "$name: disconnected, the VM kept" disconnected
}

FREERDP="xfreerdp /v:127.0.0.1:$RDP_PORT /cert:ignore /sec:tls /size:1024x768 -clipboard +auto-reconnect"
run_client xfreerdp-gfx $FREERDP /u:alice /p:alicepw /gfx:avc420
FIRST_VM=$VM
# The pipeline without H.264: planar tiles through it.
run_client xfreerdp-gfx-planar $FREERDP /u:alice /p:alicepw /gfx:rfx
[ "$VM" = "$FIRST_VM" ] || fail "the reconnect got $VM, not $FIRST_VM"
ok "reconnecting resumes the same VM ($VM)"
# ---- lock keys: the guest's follow the client's ----
# xfreerdp says its lock keys (a synchronize event) when its window gets the
# focus; the session presses the guest's lock keys that differ, judging by
# the LED state QEMU reports from the guest's keyboard.
caps_downs() { grep -c "key 58 down" "$STATE/logs/$FIRST_VM.serial.log"; }
locks_round() {  # locks_round NAME: connect, focus, let the keys settle, disconnect
    $FREERDP /u:alice /p:alicepw /gfx:avc420 >"$TMP/$1.log" 2>&1 &
    CLIENT_PID=$!
    wait_until 30 "$1: connected" connected
    WIN=$(window_of "$CLIENT_PID") || fail "$1: no window"
    xdotool windowactivate --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
    sleep 3
    kill "$CLIENT_PID"
    wait "$CLIENT_PID" 2>/dev/null
    CLIENT_PID=
    wait_until 20 "$1: disconnected" disconnected
}
xdotool key Caps_Lock
before=$(caps_downs)
pressed=$(grep -c "lock keys: pressed Caps Lock" "$TMP/aulad.log")
locks_round locks-on
[ "$(caps_downs)" -eq $((before + 1)) ] || fail "Caps Lock on at the client: the guest saw $(($(caps_downs) - before)) Caps Lock presses, not 1"
[ "$(grep -c "lock keys: pressed Caps Lock" "$TMP/aulad.log")" -gt "$pressed" ] || fail "no log line for the Caps Lock press"
ok "Caps Lock on at the client: the guest's Caps Lock is pressed once, and logged"
before=$(caps_downs)
locks_round locks-still-on
[ "$(caps_downs)" -eq "$before" ] || fail "Caps Lock already on in the guest, yet pressed again"
ok "Caps Lock on at both ends: nothing pressed (the guest's LED state is read)"
xdotool key Caps_Lock
locks_round locks-off
[ "$(caps_downs)" -eq $((before + 1)) ] || fail "Caps Lock off at the client: the guest's was not pressed"
ok "Caps Lock off at the client: the guest's is pressed back off"

# ---- display control: the client asks for another size ----
# xfreerdp /dynamic-resolution says its window's size through the display
# control channel; the session passes it to QEMU (SetDesktopSize). The test
# guest's VGA cannot change mode on request, so the desktop keeps its size.
asks=$(grep -c "asked the guest's display for 800x600" "$TMP/aulad.log")
$FREERDP /u:alice /p:alicepw /gfx:avc420 /dynamic-resolution >"$TMP/disp.log" 2>&1 &
CLIENT_PID=$!
wait_until 30 "disp: connected" connected
WIN=$(window_of "$CLIENT_PID") || fail "disp: no window"
sleep 2
xdotool windowsize "$WIN" 800 600
wait_until 20 "the client's new size reaches the session" grep -q "the client asks for a 800x600 desktop" "$TMP/aulad.log"
wait_until 10 "the session asks the guest's display for it" sh -c "[ \$(grep -c \"asked the guest's display for 800x600\" '$TMP/aulad.log') -gt $asks ]"
sleep 1
connected || fail "the session did not survive the resize request: $(session_state)"
ok "a resized client window asks the guest's display for its size; a guest that cannot keeps its own"
kill "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null
CLIENT_PID=
wait_until 20 "disp: disconnected" disconnected

# No pipeline below 32 bpp: bitmap updates, interleaved at 16 bpp.
run_client xfreerdp-bitmap16 $FREERDP /u:alice /p:alicepw /bpp:16
# rdesktop (no pipeline; its MCS Erect Domain Request is not PER, which the
# session re-encodes: display/rdesktop_compat.c).
run_client rdesktop rdesktop -u alice -p alicepw -g 1024x768 -a 32 "127.0.0.1:$RDP_PORT"
grep -q "the client is rdesktop" "$TMP/aulad.log" || fail "no log line for rdesktop's Erect Domain Request"
[ "$VM" = "$FIRST_VM" ] || fail "rdesktop got $VM, not $FIRST_VM"
ok "rdesktop 1.9.0 connects to the same VM ($VM)"

# alice@pool names the pool.
run_client xfreerdp-pool $FREERDP "/u:alice@$POOL" /p:alicepw /gfx:avc420

# ---- the login screen ----
$FREERDP /gfx:avc420 >"$TMP/login.log" 2>&1 &
CLIENT_PID=$!
WIN=$(window_of "$CLIENT_PID") || fail "no window for the login screen ($(tail -5 "$TMP/login.log"))"
sleep 3
shot login
$PY - "$TMP/login.png" <<'EOF' || fail "the login screen is not shown (see $TMP/login.png)"
import sys
from PIL import Image
img = Image.open(sys.argv[1]).convert("RGB")
colours = len(set(img.crop((0, 0, min(img.size[0], 1024), min(img.size[1], 768))).getdata()))
sys.exit(0 if colours > 4 else 1)
EOF
ok "no credentials: the login screen is shown"
xdotool windowactivate --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
sleep 0.5
xdotool type --delay 80 "alice"
xdotool key Tab
xdotool type --delay 80 "wrongpw"
xdotool key Return
sleep 2
ctl audit --json --limit 30 | grep -q '"denied"' || fail "no audit row for the wrong password"
shot login-error
ok "a wrong password on the login screen is refused and audited"
xdotool type --delay 80 "alicepw"   # focus is back on the password
xdotool key Return
wait_until 30 "the login screen leads to the desktop" connected
kill "$CLIENT_PID"; wait "$CLIENT_PID" 2>/dev/null; CLIENT_PID=
wait_until 20 "disconnected again" disconnected

# ---- refusals ----
for i in 1 2 3 4; do
    timeout 20 $FREERDP /u:bob /p:wrong$i >"$TMP/bad.log" 2>&1 &
    p=$!; sleep 4; kill $p 2>/dev/null; wait $p 2>/dev/null
done
grep -q "too many failed logins" "$TMP/aulad.log" || fail "repeated failures are not rate-limited"
ok "repeated failed logins are rate-limited"
if timeout 20 xfreerdp /v:127.0.0.1:$RDP_PORT /cert:ignore /sec:rdp /u:alice /p:alicepw >"$TMP/rdpsec.log" 2>&1; then
    fail "standard RDP security was accepted"
fi
ok "standard RDP security is refused"
$VT garbage 127.0.0.1 "$RDP_PORT" >/dev/null || fail "garbage on the RDP port"
# A truncated handshake: a real X.224 connection request cut in half.
printf '\x03\x00\x00\x13\x0e\xe0\x00\x00' | timeout 5 $PY -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read()); s.close()' "$RDP_PORT"
# Malformed handshakes before and inside TLS, bounded in count and time.
fuzz=$(timeout 300 $VT rdpfuzz 127.0.0.1 "$RDP_PORT" 30 7) || fail "rdpfuzz did not finish: $fuzz"
echo "    rdpfuzz: $fuzz"
sleep 2
kill -0 "$AULAD_PID" || fail "aulad died of garbage"
[ "$(session_state)" = disconnected ] || fail "alice's session changed: $(session_state)"
left() { [ "$(ctl status --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["session_processes"])')" -eq 0 ]; }
wait_until 30 "every session process of the garbage is gone" left
ok "garbage, a truncated handshake and 30 malformed handshakes close only their connection"

kill "$XVFB_PID" 2>/dev/null
stop_aulad
ok "aulad stops cleanly"
echo "PASS: $TEST_NAME ($CHECKS checks)"
