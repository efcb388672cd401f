#!/bin/bash
# bench_vnc: what a VNC session through aulad costs, measured with vncmeter
# (tests/bench/vncmeter.c) on the testguest under a real libvirtd, next to the
# same viewer connected straight to QEMU's own VNC server of the same VM.
#
#   1. ticket -> first frame: from the redemption of a fresh ticket (the
#      password challenge, answered at once) to the first update set that
#      covers the whole screen; 5 users, each onto a ready spare, then 5
#      reconnects of one user to the desktop it already holds, and 5
#      connects straight to QEMU's VNC socket of that VM for comparison.
#   2. bytes and updates for the idle, typing and motion workloads (F5, F6,
#      F7 in the guest), per encoding, through aulad and straight to QEMU,
#      one after the other on the same VM, never both at once.
#   3. memory (VmRSS, VmHWM) of one aula-session at 1920x1080 during motion.
#
# Needs root and libvirtd (qemu:///system); exits 77 with the reason when it
# cannot run here. Tunables: BENCH_SECONDS (10), BENCH_WARMUP (2),
# BENCH_ENCODINGS ("tight tight-lossless zrle"), BENCH_CONNECTS (5).
# shellcheck source=tests/e2e/e2e.sh
. "$(dirname "$0")/../e2e/e2e.sh"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
ENCODINGS=${BENCH_ENCODINGS:-tight tight-lossless zrle}
CONNECTS=${BENCH_CONNECTS:-5}
METER=$top_builddir/tests/bench/vncmeter
[ -x "$METER" ] || fail "$METER is not built (make tests/bench/vncmeter)"
command -v curl >/dev/null || skip "curl is not installed"
API=https://127.0.0.1:$API_PORT/api/v1
RESULTS=$TMP/results
: >"$RESULTS"

# ---- the client API, with curl ----
# api METHOD PATH [JSON] [TOKEN]: the status code on stdout, the body in $TMP/api.body.
api() {
    local args=(-sk -o "$TMP/api.body" -w '%{http_code}' -X "$1" --max-time 200)
    [ -n "${3:-}" ] && args+=(-H "Content-Type: application/json" -d "$3")
    [ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
    curl "${args[@]}" "$API$2"
}
jbody() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/api.body" "$1"; }

# login USER: the user's token in $TOKEN (each user's password is its name and "pw").
login() {
    [ "$(api POST /login "{\"username\":\"$1\",\"password\":\"$1pw\"}")" = 200 ] ||
        fail "login $1: $(cat "$TMP/api.body")"
    TOKEN=$(jbody token)
}

# ticket TOKEN POOL: a fresh VNC ticket in $TICKET. aulad gives a user at most
# 10 tickets a minute; past that (429), wait and ask again.
ticket() {
    local code tries=0
    while :; do
        code=$(api POST "/pools/$2/connect" '{"protocol":"vnc"}' "$1")
        [ "$code" = 200 ] && break
        if [ "$code" != 429 ] || [ $((tries += 1)) -gt 12 ]; then
            fail "ticket for $2: $code $(cat "$TMP/api.body")"
        fi
        sleep 10
    done
    TICKET=$(jbody ticket)
    [ "$(jbody port)" = "$VNC_PORT" ] || fail "the API gives port $(jbody port), not $VNC_PORT"
}

adduser() {
    echo "$1pw" | ctl user add "$1" --password-stdin >/dev/null || fail "user add $1"
    ctl entitle --user "$1" --pool "$2" >/dev/null || fail "entitle $1 $2"
}

sessions_of() { pgrep -P "$AULAD_PID" -x aula-session | wc -l; }
no_sessions() { [ "$(sessions_of)" -eq 0 ]; }
user_vm() {
    ctl session list --all --json | python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin) if x["user"]==sys.argv[1] and x.get("vm")]
print(s[-1]["vm"] if s else "")' "$1"
}
qemu_pid() { cat "/run/libvirt/qemu/$1.pid"; }
qemu_socket() {
    local d
    d=$(virsh -c qemu:///system domdisplay "$1") || fail "virsh domdisplay $1"
    case $d in vnc+unix://*) echo "${d#vnc+unix://}" ;; *) fail "$1's display is not a VNC UNIX socket: $d" ;; esac
}
# ready_spare POOL: the name of a ready spare whose guest has drawn its picture.
ready_spare() {
    local vm
    vm=$(ctl vm list --pool "$1" --state ready --json | python3 -c 'import json,sys
v=json.load(sys.stdin); print(v[0]["name"] if v else "")')
    [ -n "$vm" ] && serial_has "$vm" "TESTGUEST ready" && echo "$vm"
}
has_booted_spare() { [ -n "$(ready_spare "$1")" ]; }

# encoding_args NAME: vncmeter's options for an encoding of the table.
encoding_args() {
    case $1 in
    tight) echo "--encodings tight --quality 5" ;;        # libvncclient's default JPEG quality
    tight-lossless) echo "--encodings tight --quality -1" ;; # no JPEG offered
    *) echo "--encodings $1" ;;
    esac
}

# meter KEY=VALUE... -- VNCMETER-ARGS...: run vncmeter, append its line with
# the given fields in front; the guest's motion fps over the run, when $VM
# is set, in guest_fps.
meter() {
    local fields=() before line fps
    while [ "$1" != -- ]; do fields+=("$1"); shift; done
    shift
    before=$(serial "$VM" | wc -l)
    line=$("$METER" "$@" 2>"$TMP/meter.err") || fail "vncmeter $*: $(cat "$TMP/meter.err")"
    fps=$(serial "$VM" | tail -n +$((before + 1)) | sed -n 's/.*TESTGUEST fps \([0-9]*\).*/\1/p' |
        awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "-" }')
    echo "${fields[*]} $line guest_fps=$fps" >>"$RESULTS"
}

# ---- setup: one pool of the testguest at 1024x768, spare 1 ----
template_add tg
expect_ok "pool create $POOL" ctl pool create "$POOL" --template tg --min 0 --max 8 --spare 1 \
    --network none --disconnect-timeout 1h
for i in $(seq 1 "$CONNECTS"); do adduser "n$i" "$POOL"; done

# ---- 1. ticket -> first frame ----
# Each new user gets a ready spare whose guest is up. Taking it makes aulad
# boot the next spare at once, so that boot runs during the rest of the
# measurement, as it would on a real broker.
for i in $(seq 1 "$CONNECTS"); do
    wait_until 180 "a booted spare for n$i" has_booted_spare "$POOL"
    VM=$(ready_spare "$POOL")
    login "n$i"
    ticket "$TOKEN" "$POOL"
    # F5 leaves the guest idle, so the desktops held by earlier users cost
    # next to no CPU during the later measurements.
    meter kind=spare user="n$i" -- --password-stdin --duration 0 --key F5 --warmup 0.5 \
        --label spare "127.0.0.1:$VNC_PORT" <<<"$TICKET"
    [ "$(user_vm "n$i")" = "$VM" ] || fail "n$i did not get the ready spare $VM (got $(user_vm "n$i"))"
    wait_until 20 "n$i's session has ended" no_sessions
done
ok "$CONNECTS connects onto a ready spare"
# Reconnects of n1: its desktop stays its own between connects (the pool's
# disconnect timeout is an hour), so aulad allocates nothing.
VM=$(user_vm n1)
login n1
for i in $(seq 1 "$CONNECTS"); do
    ticket "$TOKEN" "$POOL"
    meter kind=reconnect user=n1 -- --password-stdin --duration 0 --warmup 0.2 --label reconnect \
        "127.0.0.1:$VNC_PORT" <<<"$TICKET"
    [ "$(user_vm n1)" = "$VM" ] || fail "n1's reconnect did not resume $VM"
    wait_until 20 "n1's session has ended" no_sessions
done
ok "$CONNECTS reconnects of n1 to $VM"
# The same viewer straight to QEMU's VNC socket of that VM, for comparison.
QSOCK=$(qemu_socket "$VM")
for i in $(seq 1 "$CONNECTS"); do
    meter kind=direct user=- -- --duration 0 --warmup 0.2 --label direct "$QSOCK"
done
ok "$CONNECTS connects straight to QEMU's VNC server of $VM"

# ---- 2. workloads, through aulad and straight to QEMU ----
QPID=$(qemu_pid "$VM")
for enc in $ENCODINGS; do
    for wl in idle:F5 typing:F6 motion:F7; do
        key=${wl#*:}
        wl=${wl%%:*}
        ticket "$TOKEN" "$POOL"
        # shellcheck disable=SC2046
        meter kind=workload workload="$wl" path=aula encoding="$enc" -- --password-stdin \
            $(encoding_args "$enc") --key "$key" --warmup "$WARMUP" --duration "$SECONDS_PER_RUN" \
            --watch "session=$AULAD_PID/aula-session" --watch "qemu=$QPID" --label "$wl" \
            "127.0.0.1:$VNC_PORT" <<<"$TICKET"
        wait_until 20 "the aula session has ended" no_sessions
        # shellcheck disable=SC2046
        meter kind=workload workload="$wl" path=qemu-direct encoding="$enc" -- $(encoding_args "$enc") \
            --key "$key" --warmup "$WARMUP" --duration "$SECONDS_PER_RUN" --watch "qemu=$QPID" \
            --label "$wl" "$QSOCK"
    done
done
ok "workloads measured"

# ---- 3. one aula-session at 1920x1080 ----
HDPOOL=${POOL_PREFIX}hd
expect_ok "template add tghd" ctl template add tghd --disk "$GUEST/disk.qcow2" --kernel "$GUEST/vmlinuz" \
    --initrd "$GUEST/initrd.img" --cmdline "$(sed 's/video=[^ ]*/video=1920x1080/' "$GUEST/cmdline")" \
    --memory 256M --vcpus 1 --video vga
expect_ok "pool create $HDPOOL" ctl pool create "$HDPOOL" --template tghd --min 0 --max 1 --spare 1 \
    --network none --disconnect-timeout 1h
adduser hd "$HDPOOL"
wait_until 180 "a booted 1920x1080 spare" has_booted_spare "$HDPOOL"
VM=$(ready_spare "$HDPOOL")
serial_has "$VM" "TESTGUEST ready 1920x1080" || fail "the guest did not take 1920x1080: $(serial "$VM" | grep -E 'fb |ready')"
ok "$VM runs at 1920x1080 ($(serial "$VM" | sed -n 's/.*TESTGUEST \(fb .*\)/\1/p' | head -1))"
login hd
ticket "$TOKEN" "$HDPOOL"
# shellcheck disable=SC2046
meter kind=hd workload=motion path=aula encoding=tight -- --password-stdin \
    $(encoding_args tight) --key F7 --warmup "$WARMUP" --duration "$SECONDS_PER_RUN" \
    --watch "session=$AULAD_PID/aula-session" --watch "qemu=$(qemu_pid "$VM")" --label hd \
    "127.0.0.1:$VNC_PORT" <<<"$TICKET"
wait_until 20 "the aula session has ended" no_sessions
# shellcheck disable=SC2046
meter kind=hd workload=motion path=qemu-direct encoding=tight -- $(encoding_args tight) --key F7 \
    --warmup "$WARMUP" --duration "$SECONDS_PER_RUN" --watch "qemu=$(qemu_pid "$VM")" --label hd \
    "$(qemu_socket "$VM")"
ok "1920x1080 session measured"

# ---- the report ----
echo
echo "== bench_vnc: $(nproc) CPUs, $(virsh -c qemu:///system version 2>/dev/null | sed -n 's/.*hypervisor: //p')" \
    "under TCG (domain type qemu), libvncclient $(pkg-config --modversion libvncclient 2>/dev/null || echo '?')" \
    "viewer and libvncserver $(pkg-config --modversion libvncserver 2>/dev/null || echo '?') on aula's side"
echo "   load average at the start $LOAD_BEFORE, at the end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "$(virsh -c qemu:///system list --name | grep -c .) domains running on the host now"
python3 - "$RESULTS" "$SECONDS_PER_RUN" <<'EOF'
import statistics, sys

rows = []
for line in open(sys.argv[1]):
    d = {}
    for word in line.split():
        if "=" in word:
            k, v = word.split("=", 1)
            d.setdefault(k, v)
    rows.append(d)

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

print()
print("ticket -> first full frame, 1024x768, tight, viewer on the same host; median (each sample), ms")
print("  redeem->frame: from the server's password challenge (the viewer answers it with the ticket at once)")
print("  connect->frame: from connect() to the end of the first update set that covers the whole screen")
print("  %-42s %-34s %s" % ("", "redeem->frame", "connect->frame"))
for kind, what in (("spare", "aula: new user onto a ready spare"), ("reconnect", "aula: same user, its desktop kept"),
                   ("direct", "qemu-direct: QEMU's VNC socket, no auth")):
    rs = [r for r in rows if r.get("kind") == kind]
    if not rs:
        continue
    a = [num(r["challenge_to_frame_ms"]) for r in rs if num(r["challenge_to_frame_ms"]) is not None]
    b = [num(r["first_frame_ms"]) for r in rs]
    ta = "%.1f (%s)" % (statistics.median(a), " ".join("%.0f" % x for x in a)) if a else "-"
    tb = "%.1f (%s)" % (statistics.median(b), " ".join("%.0f" % x for x in b))
    print("  %-42s %-34s %s" % (what, ta, tb))

print()
print("workloads, 1024x768, %s s each after a warm-up; aula and qemu-direct run one after the other on the same VM" % sys.argv[2])
hdr = ("workload", "path", "encoding", "bytes/s", "updates/s", "bytes/update", "px/update", "guest fps",
       "qemu cpu%", "session cpu%", "session RSS kB")
fmt = "%-8s %-11s %-14s %11s %9s %12s %9s %9s %9s %12s %14s"
print("  tight: JPEG quality 5 offered; QEMU ignores it (its tight is lossless unless the display has lossy=on,")
print("  which libvirt does not set), libvncserver on aula's side uses JPEG. tight-lossless offers no JPEG.")
print("  px/update: pixels in the rectangles of one update. cpu%: of one core, over the count.")
print(fmt % hdr)
for r in rows:
    if r.get("kind") != "workload":
        continue
    ups = num(r["updates"]) or 0
    pxu = "%.0f" % (num(r["pixels"]) / ups) if ups else "-"
    print(fmt % (r["workload"], r["path"], r["encoding"], r["bytes_per_s"], r["updates_per_s"], r["bytes_per_update"],
                 pxu, r.get("guest_fps", "-"), r.get("qemu_cpu", "-"), r.get("session_cpu", "-"),
                 r.get("session_rss_kb", "-")))

print()
print("one aula-session at 1920x1080 (second template, video=1920x1080), motion, tight, %s s" % sys.argv[2])
for r in rows:
    if r.get("kind") != "hd":
        continue
    if r["path"] == "aula":
        print("  aula-session VmRSS max %s kB, VmHWM %s kB (pid %s, sampled every 0.5 s during the count)"
              % (r["session_rss_kb"], r["session_hwm_kb"], r["session_pid"]))
    print("  %-11s %sx%s: %s bytes/s, %s updates/s, %s bytes/update, guest fps %s, qemu cpu %s%%, session cpu %s%%"
          % (r["path"], r["width"], r["height"], r["bytes_per_s"], r["updates_per_s"], r["bytes_per_update"],
             r.get("guest_fps", "-"), r.get("qemu_cpu", "-"), r.get("session_cpu", "-")))
print()
print("raw vncmeter lines:")
for line in open(sys.argv[1]):
    print("  " + line.rstrip())
EOF
stop_aulad
echo "bench_vnc: done ($CHECKS steps)"
