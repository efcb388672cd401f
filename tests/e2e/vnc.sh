#!/bin/bash
# End to end: a VNC viewer reaches a pool desktop through aulad.
# Real libvirtd, the testguest under TCG, the real aulad with its client API,
# aula-session processes, and real viewers under Xvfb: gvnccapture (gtk-vnc)
# for pictures, TigerVNC's vncviewer driven with xdotool for input.
#   ticket from the client API -> viewer -> picture equals `virsh screenshot`
#   keys typed in the viewer reach the guest; close and reconnect to the same
#   VM; the disconnect timeout resets the VM and it comes back as a spare.
#   Refusals: wrong, reused and expired tickets, a user without entitlement,
#   garbage on the VNC and API ports; killing one session process leaves
#   aulad and the other session alone.
. "$(dirname "$0")/e2e.sh"

for tool in gvnccapture vncviewer vncpasswd xdotool Xvfb; do
    command -v $tool >/dev/null || skip "$tool is not installed (see packaging/debian-packages.txt)"
done
# Debian's python3, where python3-pil is (a python3 earlier in PATH may lack it).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
$PY -c 'import PIL' 2>/dev/null || skip "python3-pil is not installed"
VT="$PY $top_srcdir/tests/e2e/vnctool.py"

# This test wants short ticket lifetimes and its own ports.
stop_aulad
write_config "libvirt_uri = qemu:///system" "log_level = debug" "allocate_timeout = 180" "ticket_lifetime = 8"
start_aulad
API=https://127.0.0.1:$API_PORT/api/v1

template_add tg
expect_ok "pool create" ctl pool create "$POOL" --template tg --min 0 --max 3 --spare 1 --network none \
    --disconnect-timeout 20s
echo alicepw | ctl user add alice --password-stdin >/dev/null || fail "user add alice"
echo bobpw | ctl user add bob --password-stdin >/dev/null || fail "user add bob"
ctl entitle --user alice --pool "$POOL" >/dev/null || fail "entitle"

ctl status | grep -E "vnc .*listening" >/dev/null || fail "status does not show the VNC listener: $(ctl status)"
ok "status shows VNC listening"

wait_until 120 "a spare is ready" has_ready 1
SPARE=$(ctl vm list --pool "$POOL" --state ready --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')
wait_until 90 "$SPARE's guest boots" serial_has "$SPARE" "TESTGUEST ready"

# ---- the client API ----
api() { $VT api "$@" >"$TMP/api.out"; head -1 "$TMP/api.out"; }
body() { tail -n +2 "$TMP/api.out"; }
jget() { body | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

[ "$(api POST "$API/login" '{"username":"alice","password":"wrong"}')" = 401 ] || fail "a wrong password is not 401: $(cat "$TMP/api.out")"
ok "wrong password refused (401)"
[ "$(api POST "$API/login" '{"username":"alice",')" = 400 ] || fail "bad JSON is not 400: $(cat "$TMP/api.out")"
ok "malformed JSON refused (400)"
[ "$(api POST "$API/login" '{"username":"alice","password":"alicepw"}')" = 200 ] || fail "login: $(cat "$TMP/api.out")"
TOKEN=$(jget token)
ok "login gives a token"
[ "$(api GET "$API/pools" "" "$TOKEN")" = 200 ] || fail "pools: $(cat "$TMP/api.out")"
body | grep -q "\"$POOL\"" || fail "alice's pools do not list $POOL: $(body)"
ok "alice's pools list $POOL"

# ticket: a fresh VNC ticket for alice, in $TICKET and $PORT.
ticket() {
    [ "$(api POST "$API/pools/$POOL/connect" '{"protocol":"vnc"}' "$TOKEN")" = 200 ] || fail "connect: $(cat "$TMP/api.out")"
    TICKET=$(jget ticket)
    PORT=$(jget port)
    [ "$PORT" = "$VNC_PORT" ] || fail "the API gives port $PORT, not $VNC_PORT"
}

# ---- a picture through aulad equals the VM's own screen ----
ticket
T1=$TICKET
start=$(date +%s.%N)
$VT capture 127.0.0.1 "$PORT" "$TICKET" "$TMP/view.png" >"$TMP/cap.log" 2>&1 || fail "gvnccapture failed: $(cat "$TMP/cap.log")"
end=$(date +%s.%N)
ok "gvnccapture got a picture through aulad ($(python3 -c "print(round($end - $start, 2))") s from ticket to file)"
VM=$(ctl session list --all --json | python3 -c 'import json,sys; s=[x for x in json.load(sys.stdin) if x["user"]=="alice"]; print(s[-1]["vm"])')
[ -n "$VM" ] && [ "$VM" != None ] || fail "no session row names alice's VM: $(ctl session list --all)"
virsh -c qemu:///system screenshot "$VM" "$TMP/vm.ppm" >/dev/null || fail "virsh screenshot $VM"
# The static part of the screen (title, colour bars, grey ramp) must match;
# the animated strip and the event log may change between the two pictures.
d=$($VT diff "$TMP/view.png" "$TMP/vm.ppm" 0,0,1024,232)
python3 -c "import sys; sys.exit(0 if float('$d') < 1.0 else 1)" || fail "the viewer's picture differs from the VM's screen: $d% of pixels"
ok "the viewer's picture matches virsh screenshot ($d% of pixels differ)"

# ---- refusals on the VNC port ----
wait_until 20 "the first session is disconnected" sh -c "$AULACTL --socket $SOCK session list --json | grep -q '\"disconnected\"'"
if $VT capture 127.0.0.1 "$VNC_PORT" "$T1" "$TMP/reuse.png" >"$TMP/cap.log" 2>&1; then fail "a used ticket was accepted"; fi
ok "a used ticket is refused"
if $VT capture 127.0.0.1 "$VNC_PORT" "wrongpw1" "$TMP/wrong.png" >"$TMP/cap.log" 2>&1; then fail "a wrong ticket was accepted"; fi
ok "a wrong ticket is refused"
ticket
sleep 10
if $VT capture 127.0.0.1 "$VNC_PORT" "$TICKET" "$TMP/expired.png" >"$TMP/cap.log" 2>&1; then fail "an expired ticket was accepted"; fi
ok "an expired ticket is refused"
ctl audit --json --limit 200 >"$TMP/audit.json"
# VNC sends no password, only an answer to a challenge, so a used or expired
# ticket looks like no ticket at all: three refusals, three audit rows.
$PY - "$TMP/audit.json" <<'EOF' || fail "refused tickets are not audited: $(grep -i -A3 ticket.redeem "$TMP/audit.json" | tail -12)"
import json, sys
rows = json.load(open(sys.argv[1]))
refused = [r for r in rows if r["action"] == "ticket.redeem" and r["outcome"] != "ok"]
sys.exit(0 if len(refused) >= 3 and all("127.0.0.1" in r["detail"] for r in refused) else 1)
EOF
ok "refused tickets are audited"

# bob is not entitled: the API refuses him a ticket, and audits it.
[ "$(api POST "$API/login" '{"username":"bob","password":"bobpw"}')" = 200 ] || fail "bob's login"
BOBTOKEN=$(jget token)
[ "$(api POST "$API/pools/$POOL/connect" '{"protocol":"vnc"}' "$BOBTOKEN")" = 403 ] || fail "bob got a ticket: $(cat "$TMP/api.out")"
ok "a user without entitlement gets no ticket (403)"
[ "$(api POST "$API/pools/nosuchpool/connect" '{"protocol":"vnc"}' "$TOKEN")" = 404 ] || fail "unknown pool: $(cat "$TMP/api.out")"
ok "an unknown pool is 404"
[ "$(api GET "$API/pools" "" "not-a-token")" = 401 ] || fail "a bad token is not 401"
ok "a bad token is 401"

# Garbage on the VNC port closes that connection only, and is audited.
$VT garbage 127.0.0.1 "$VNC_PORT" >"$TMP/garbage.out" || fail "garbage on the VNC port"
$VT garbage 127.0.0.1 "$API_PORT" >>"$TMP/garbage.out" || fail "garbage on the API port"
sleep 1
kill -0 "$AULAD_PID" || fail "aulad died of garbage"
ctl audit --json --limit 50 | grep -q '"connect"' || fail "no audit row for the garbage connection"
ok "garbage on the VNC and API ports closes only that connection (audited)"

# ---- input: TigerVNC's viewer under Xvfb, typed into with xdotool ----
DISPLAY_NUM=$((100 + $$ % 100))
Xvfb ":$DISPLAY_NUM" -screen 0 1280x1024x24 -nolisten tcp >"$TMP/xvfb.log" 2>&1 &
XVFB_PID=$!
export DISPLAY=":$DISPLAY_NUM"
for _ in $(seq 1 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
ticket
echo "$TICKET" | vncpasswd -f >"$TMP/passwd" 2>/dev/null || fail "vncpasswd"
vncviewer -passwd "$TMP/passwd" -FullScreen=0 -RemoteResize=0 "127.0.0.1::$PORT" >"$TMP/viewer.log" 2>&1 &
VIEWER_PID=$!
trap 'kill $VIEWER_PID $XVFB_PID 2>/dev/null; cleanup' EXIT
wait_until 30 "alice is connected again" sh -c "$AULACTL --socket $SOCK session list --json | grep -q '\"connected\"'"
[ "$(ctl session list --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print(len(s), s[0]["vm"])')" = "1 $VM" ] ||
    fail "the reconnect did not resume the same desktop: $(ctl session list)"
ok "reconnecting resumes the same session and VM ($VM)"
WIN=
for _ in $(seq 1 50); do WIN=$(xdotool search --name "aula" 2>/dev/null | head -1); [ -n "$WIN" ] && break; sleep 0.2; done
[ -n "$WIN" ] || fail "no vncviewer window ($(cat "$TMP/viewer.log"))"
xdotool windowactivate --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
before=$(serial "$VM" | grep -c "key .* down")
sleep 1
xdotool type --delay 100 "aula"
wait_until 20 "typed keys reach the guest" sh -c "[ \$(cat '$STATE/logs/$VM.serial.log' | grep -c 'key .* down') -ge $((before + 4)) ]"
serial "$VM" | grep "key .* down" | tail -4 | grep -q "key 30 down" || fail "the guest did not see 'a' (key 30): $(serial "$VM" | grep key | tail -4)"
ok "the guest saw the typed keys"

# Session facts: user, VM, client, protocol, encoding, bytes, and the
# process runs as the session user, not root.
sleep 3
ctl session list --json >"$TMP/sessions.json"
python3 - "$TMP/sessions.json" "$VM" <<'EOF' || fail "session list is incomplete: $(cat "$TMP/sessions.json")"
import json, sys
s = json.load(open(sys.argv[1]))[0]
assert s["user"] == "alice" and s["vm"] == sys.argv[2] and s["protocol"] == "vnc", s
assert s["client"].startswith("127.0.0.1"), s
assert s["encoding"] not in ("", "vnc"), s
assert s["bytes_sent"] > 1000 and s["fps"] >= 0, s
EOF
ok "session list shows user, VM, client, encoding and bytes sent"
SPID=$(pgrep -f "aula-session --protocol vnc" | head -1)
[ -n "$SPID" ] || fail "no aula-session process"
uid=$(awk '/^Uid:/{print $2}' "/proc/$SPID/status")
[ "$uid" = "$(id -u "$(session_user)")" ] || fail "aula-session runs as uid $uid, not $(session_user)"
ok "aula-session runs as $(session_user) (uid $uid)"

# Kill one session process: aulad and the rest go on; the session is disconnected.
kill -9 "$SPID"
wait_until 10 "the killed session is disconnected" sh -c "$AULACTL --socket $SOCK session list --json | grep -q '\"disconnected\"'"
kill -0 "$AULAD_PID" || fail "aulad died with its session"
ctl status >/dev/null || fail "aulad does not answer after a session died"
ok "killing a session process leaves aulad serving"
kill "$VIEWER_PID" 2>/dev/null

# The disconnect timeout (20 s) logs alice off: the VM is reset and is a spare again.
no_sessions() { [ "$(ctl session list --json | json_count)" -eq 0 ]; }
wait_until 60 "the disconnect timeout logs alice off" no_sessions
wait_until 120 "$VM is reset and ready as a spare" sh -c "$AULACTL --socket $SOCK vm show $VM --json | grep -q '\"state\" *: *\"ready\"'"
[ "$(vm_field "$VM" owner)" = None ] || fail "$VM still has an owner"
ok "$VM came back as a spare"

# An admin logoff ends a connected session at once.
ticket
$VT capture 127.0.0.1 "$PORT" "$TICKET" "$TMP/view2.png" >"$TMP/cap.log" 2>&1 || fail "capture after reset: $(cat "$TMP/cap.log")"
ID=$(ctl session list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
expect_ok "session logoff" ctl session logoff "$ID"
ctl session list --all --json | python3 -c "import json,sys; s=[x for x in json.load(sys.stdin) if x['id']==$ID][0]; sys.exit(0 if s['state']=='logged_off' else 1)" ||
    fail "session $ID is not logged off"
if ctl session logoff "$ID" >/dev/null 2>&1; then fail "a second logoff succeeded"; fi
if ctl session disconnect 999999 >/dev/null 2>&1; then fail "disconnecting an unknown session succeeded"; fi
ok "admin logoff, and clear errors for a logged-off or unknown session"

kill "$XVFB_PID" 2>/dev/null
stop_aulad
ok "aulad stops cleanly"
echo "PASS: $TEST_NAME ($CHECKS checks)"
