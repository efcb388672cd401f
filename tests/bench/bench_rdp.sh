#!/bin/bash
# bench_rdp: what an RDP session through aulad costs, measured from the
# client's side with a real xfreerdp (/gfx:avc420) under Xvfb, on the
# testguest at 1920x1080 under a real libvirtd, next to FreeRDP's own shadow
# server serving an X screen that shows the same workloads (xworkload).
#
#   1. credentials -> first frame: 5 connects of one user, a fresh xfreerdp
#      each time. The first one takes the pool's ready spare; the VM stays
#      the user's between connects (disconnect timeout 1 h), so the other
#      four resume it. On the server, aula-session's log line "first frame
#      of the desktop sent N ms after the client's credentials arrived". On
#      the client, polled every 10 ms: xfreerdp started -> its credentials
#      sent (its Client Info PDU, logged by xfreerdp at debug level) -> its
#      window mapped (xdotool search) -> its first graphics pipeline frame
#      (its trace of surface commands). The same 5 connects to the shadow
#      server (part 3) for reference.
#   2. the typing (F6), scroll (F8) and motion (F7) workloads, each for
#      BENCH_SECONDS after a warm-up, one xfreerdp connection for all three:
#      bytes the client's TCP socket received (ss -ti bytes_received: TLS
#      records, all of RDP), surface commands the client received (xfreerdp's
#      own trace, with each codec payload's length), aulad's fps (aulactl
#      session list, sampled every second), and the CPU time (utime + stime)
#      of aula-session per frame and per second. Then the same workloads
#      read straight from QEMU's VNC socket in raw, as aula-session reads
#      them (vncmeter): how many updates the source itself delivers.
#   3. the same three workloads drawn by xworkload on a second Xvfb at
#      1920x1080 and served by freerdp-shadow-cli (no authentication, TLS),
#      measured the same way from the client's side; CPU of the shadow
#      server per frame and per second.
#   4. one table with both, and the machine.
#
# Needs root, libvirtd (qemu:///system), xfreerdp, freerdp-shadow-cli, Xvfb,
# xdotool, ss and vncmeter's libvncclient; exits 77 with the reason when something is missing.
# Tunables: BENCH_SECONDS (15), BENCH_WARMUP (3), BENCH_CONNECTS (5).
for tool in xfreerdp freerdp-shadow-cli Xvfb xdotool xdpyinfo ss stdbuf; do
    if ! command -v $tool >/dev/null; then
        echo "SKIP: bench_rdp: $tool is not installed (see packaging/debian-packages.txt)"
        exit 77
    fi
done
# shellcheck source=tests/e2e/e2e.sh
. "$(dirname "$0")/../e2e/e2e.sh"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SECONDS_PER_RUN=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-3}
CONNECTS=${BENCH_CONNECTS:-5}
XWORKLOAD=$top_builddir/tests/bench/xworkload
[ -x "$XWORKLOAD" ] || fail "$XWORKLOAD is not built (make tests/bench/xworkload)"
METER=$top_builddir/tests/bench/vncmeter
[ -x "$METER" ] || fail "$METER is not built (make tests/bench/vncmeter)"
DOMAINS_BEFORE=$(virsh -c qemu:///system list --name | grep -c .)
HZ=$(getconf CLK_TCK)
RESULTS=$TMP/results
: >"$RESULTS"
USER_NAME=rdpbench
USER_PW=rdpbenchpw

# ---- X servers: one for the clients, one for the shadow server ----
XVFB_PIDS=
CLIENT_PID=
SHADOW_PID=
XW_PID=
# shellcheck disable=SC2317,SC2086
stop_all() {
    kill $CLIENT_PID $XW_PID $SHADOW_PID 2>/dev/null
    sleep 0.5
    kill $XVFB_PIDS 2>/dev/null
    cleanup
}
trap stop_all EXIT
# start_xvfb NAME: an Xvfb at 1920x1080x24 on a display number it picks
# itself (-displayfd: no clash with other tests' X servers); the number in
# XVFB_DISPLAY, its pid in XVFB_PID.
start_xvfb() {
    local fifo=$TMP/xvfb-$1.fd
    mkfifo "$fifo"
    Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp 3>"$fifo" >"$TMP/xvfb-$1.log" 2>&1 &
    XVFB_PID=$!
    XVFB_PIDS="$XVFB_PIDS $XVFB_PID"
    read -r -t 20 XVFB_DISPLAY <"$fifo" || fail "Xvfb ($1) did not start ($(tail -2 "$TMP/xvfb-$1.log"))"
    for _ in $(seq 1 50); do DISPLAY=":$XVFB_DISPLAY" xdpyinfo >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "Xvfb :$XVFB_DISPLAY ($1) does not answer ($(tail -2 "$TMP/xvfb-$1.log"))"
}
start_xvfb client
CLIENT_DISPLAY=$XVFB_DISPLAY
CLIENT_XVFB_PID=$XVFB_PID
start_xvfb shadow
SHADOW_DISPLAY=$XVFB_DISPLAY
XVFB_SHADOW_PID=$XVFB_PID
export DISPLAY=":$CLIENT_DISPLAY"

# ---- helpers ----
now_ms() { echo $(($(date +%s%N) / 1000000)); }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# rx_bytes PORT: what the client's socket to PORT on 127.0.0.1 has received.
rx_bytes() {
    ss -tinH state established "( dport = :$1 and dst 127.0.0.1 )" |
        sed -n 's/.*bytes_received:\([0-9]*\).*/\1/p' | head -1
}
sessions_of() { pgrep -P "$AULAD_PID" -x aula-session | wc -l; }
no_sessions() { [ "$(sessions_of)" -eq 0 ]; }
session_pid() { pgrep -P "$AULAD_PID" -x aula-session | head -1; }
# session_field FIELD: that field of the user's live session ("" without one).
session_field() {
    ctl session list --json | python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin) if x["user"]==sys.argv[1]]
print(s[-1].get(sys.argv[2], "") if s else "")' "$USER_NAME" "$1"
}
user_vm() {
    ctl session list --all --json | python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin) if x["user"]==sys.argv[1] and x.get("vm")]
print(s[-1]["vm"] if s else "")' "$USER_NAME"
}
connected() { [ "$(session_field state)" = connected ]; }
qemu_pid() { cat "/run/libvirt/qemu/$1.pid"; }
ready_spare() {
    local vm
    vm=$(ctl vm list --pool "$1" --state ready --json | python3 -c 'import json,sys
v=json.load(sys.stdin); print(v[0]["name"] if v else "")')
    [ -n "$vm" ] && serial_has "$vm" "TESTGUEST ready" && echo "$vm"
}
has_booted_spare() { [ -n "$(ready_spare "$1")" ]; }
first_frame_lines() { grep -c "first frame of the desktop sent" "$TMP/aulad.log"; }

# client NAME PORT [ARGS...]: start xfreerdp at 1920x1080 with the graphics
# pipeline and AVC420, its trace of surface commands (com.freerdp.gdi at
# TRACE) and of its Client Info PDU (com.freerdp.core.info at DEBUG) in
# $TMP/NAME.log, line by line; its pid in CLIENT_PID, the time it was
# started in CLIENT_T0 (ms). (WLog's own time stamps are not used: their
# seconds and milliseconds come from different clocks and disagree.)
client() {
    local name=$1 port=$2
    shift 2
    CLIENT_T0=$(now_ms)
    WLOG_FILTER="com.freerdp.gdi:TRACE,com.freerdp.core.info:DEBUG" stdbuf -oL -eL xfreerdp "/v:127.0.0.1:$port" /cert:ignore /sec:tls \
        /size:1920x1080 /gfx:avc420 -clipboard "$@" >"$TMP/$name.log" 2>&1 &
    CLIENT_PID=$!
}
stop_client() {
    [ -n "$CLIENT_PID" ] || return 0
    kill "$CLIENT_PID" 2>/dev/null
    wait "$CLIENT_PID" 2>/dev/null
    CLIENT_PID=
}
# connect_times LOG: poll every 10 ms, for up to 60 s, until the client has
# sent its credentials, mapped its window and received its first graphics
# pipeline frame; the ms from CLIENT_T0 to each in T_INFO, T_MAP, T_SURFACE.
# xdotool's own --sync polls only every 0.5 s, too coarse here.
connect_times() {
    local log=$1 t
    T_INFO=''
    T_MAP=''
    T_SURFACE=''
    kill -0 "$CLIENT_XVFB_PID" "$XVFB_SHADOW_PID" 2>/dev/null || fail "an Xvfb of this test has died"
    while [ -z "$T_INFO" ] || [ -z "$T_MAP" ] || [ -z "$T_SURFACE" ]; do
        t=$(($(now_ms) - CLIENT_T0))
        [ "$t" -lt 60000 ] || return 1
        kill -0 "$CLIENT_PID" 2>/dev/null || return 1
        [ -z "$T_INFO" ] && grep -q "Client Info Packet" "$log" && T_INFO=$t
        [ -z "$T_SURFACE" ] && grep -q "surfaceId=" "$log" && T_SURFACE=$t
        if [ -z "$T_MAP" ] && xdotool search --onlyvisible --pid "$CLIENT_PID" >/dev/null 2>&1; then
            T_MAP=$t
            WIN=$(xdotool search --onlyvisible --pid "$CLIENT_PID" | tail -1)
        fi
        sleep 0.01
    done
}
# press KEY: focus the client's window and press KEY (XTEST, as a user would).
press() {
    timeout 5 xdotool windowfocus --sync "$WIN" >/dev/null 2>&1 || xdotool windowfocus "$WIN"
    xdotool key "$1"
}
# surface_lines LOG: how many surface commands the client logged so far.
surface_lines() { grep -c "surfaceId=" "$1"; }

# measure KEY=VALUE... -- LOG PORT SERVER_PID SOURCE_PIDS: count for
# SECONDS_PER_RUN and append one line to $RESULTS. SOURCE_PIDS (comma
# separated) are what draws the picture (QEMU; xworkload and its Xvfb).
# With AULA=1 in the fields, aulactl's fps and bytes_sent are sampled too.
measure() {
    local fields=() log port spid srcs aula=0
    while [ "$1" != -- ]; do
        fields+=("$1")
        [ "$1" = path=aula ] && aula=1
        shift
    done
    log=$2 port=$3 spid=$4 srcs=$5
    local t0 t1 rx0 rx1 l0 l1 c0 c1 cc0 cc1 s0 s1 p fps_samples="" b0=0 b1=0 line
    s0=0
    for p in ${srcs//,/ }; do s0=$((s0 + $(cpu_ticks "$p"))); done
    [ $aula = 1 ] && b0=$(session_field bytes_sent)
    t0=$(now_ms) rx0=$(rx_bytes "$port") l0=$(surface_lines "$log") c0=$(cpu_ticks "$spid")
    cc0=$(cpu_ticks "$CLIENT_PID")
    while [ $(($(now_ms) - t0)) -lt $((SECONDS_PER_RUN * 1000)) ]; do
        sleep 1
        [ $aula = 1 ] && fps_samples="$fps_samples $(session_field fps)"
    done
    t1=$(now_ms) rx1=$(rx_bytes "$port") l1=$(surface_lines "$log") c1=$(cpu_ticks "$spid")
    cc1=$(cpu_ticks "$CLIENT_PID")
    s1=0
    for p in ${srcs//,/ }; do s1=$((s1 + $(cpu_ticks "$p"))); done
    [ $aula = 1 ] && b1=$(session_field bytes_sent)
    { [ -n "$rx0" ] && [ -n "$rx1" ]; } || fail "no client socket to port $port (ss): $(tail -3 "$log")"
    # What the client decoded in the window: surface commands and their codecs.
    line=$(tail -n +$((l0 + 1)) "$log" | head -n $((l1 - l0)) | python3 -c '
import collections, re, sys
codecs = collections.Counter(); payload = 0
for l in sys.stdin:
    m = re.search(r"codec=(\S+?),.*length=(\d+)", l)
    if m:
        codecs[m.group(1)] += 1; payload += int(m.group(2))
print("surface_cmds=%d payload=%d codecs=%s" % (sum(codecs.values()), payload,
      "+".join("%s:%d" % kv for kv in sorted(codecs.items())) or "-"))')
    echo "${fields[*]} ms=$((t1 - t0)) rx=$((rx1 - rx0)) $line server_ticks=$((c1 - c0))" \
        "client_ticks=$((cc1 - cc0)) source_ticks=$((s1 - s0)) aula_bytes=$((b1 - b0))" \
        "aula_fps=$(echo "$fps_samples" | tr -s ' ' ',' | sed 's/^,//')" >>"$RESULTS"
}

# ---- setup: the testguest at 1920x1080, one VM, kept an hour ----
HDPOOL=${POOL_PREFIX}hd
expect_ok "template add tghd" ctl template add tghd --disk "$GUEST/disk.qcow2" --kernel "$GUEST/vmlinuz" \
    --initrd "$GUEST/initrd.img" --cmdline "$(sed 's/video=[^ ]*/video=1920x1080/' "$GUEST/cmdline")" \
    --memory 256M --vcpus 1 --video vga
expect_ok "pool create $HDPOOL" ctl pool create "$HDPOOL" --template tghd --min 0 --max 1 --spare 1 \
    --network none --disconnect-timeout 1h
echo "$USER_PW" | ctl user add "$USER_NAME" --password-stdin >/dev/null || fail "user add $USER_NAME"
ctl entitle --user "$USER_NAME" --pool "$HDPOOL" >/dev/null || fail "entitle $USER_NAME"
wait_until 240 "a booted 1920x1080 spare" has_booted_spare "$HDPOOL"
VM=$(ready_spare "$HDPOOL")
serial_has "$VM" "TESTGUEST ready 1920x1080" ||
    fail "the guest did not take 1920x1080: $(serial "$VM" | grep -E 'fb |ready')"
ok "$VM runs at 1920x1080"

# ---- 1. credentials -> first frame ----
AULA_CLIENT=(/u:"$USER_NAME" /p:"$USER_PW")
for i in $(seq 1 "$CONNECTS"); do
    before=$(first_frame_lines)
    client "connect$i" "$RDP_PORT" "${AULA_CLIENT[@]}"
    connect_times "$TMP/connect$i.log" || fail "connect $i: no picture ($(tail -5 "$TMP/connect$i.log"))"
    wait_until 30 "connect $i: the session logged its first frame" \
        sh -c "[ \$(grep -c 'first frame of the desktop sent' '$TMP/aulad.log') -gt $before ]"
    server_ms=$(grep -o "first frame of the desktop sent [0-9]* ms" "$TMP/aulad.log" | tail -1 | awk '{ print $7 }')
    got=$(user_vm)
    [ "$got" = "$VM" ] || fail "connect $i: $USER_NAME got $got, not $VM"
    kind=resume
    [ "$i" = 1 ] && kind=spare
    echo "kind=connect path=aula n=$i vm=$kind server_ms=$server_ms info_ms=$T_INFO mapped_ms=$T_MAP" \
        "surface_ms=$T_SURFACE" >>"$RESULTS"
    stop_client
    wait_until 30 "connect $i: the session has ended" no_sessions
done
ok "$CONNECTS connects of $USER_NAME to $VM"

# ---- 2. workloads through aulad ----
QPID=$(qemu_pid "$VM")
client aula "$RDP_PORT" "${AULA_CLIENT[@]}"
connect_times "$TMP/aula.log" || fail "no picture ($(tail -5 "$TMP/aula.log"))"
wait_until 60 "the client is connected" connected
SPID=$(session_pid)
[ -n "$SPID" ] || fail "no aula-session process"
for wl in typing:F6 scroll:F8 motion:F7; do
    key=${wl#*:}
    wl=${wl%%:*}
    n=$(serial "$VM" | grep -c "TESTGUEST workload $wl")
    press "$key"
    wait_until 20 "the guest switched to $wl" sh -c "[ \$(grep -c 'TESTGUEST workload $wl' '$STATE/logs/$VM.serial.log') -gt $n ]"
    sleep "$WARMUP"
    before=$(serial "$VM" | wc -l)
    measure kind=workload workload="$wl" path=aula -- "$TMP/aula.log" "$RDP_PORT" "$SPID" "$QPID"
    gfps=$(serial "$VM" | tail -n +$((before + 1)) | sed -n 's/.*TESTGUEST fps \([0-9]*\).*/\1/p' |
        awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "-" }')
    sed -i "\$s/\$/ source_fps=$gfps/" "$RESULTS"
    ok "aula: $wl measured"
done
stop_client
wait_until 30 "the aula session has ended" no_sessions
# The source's ceiling: the same workloads straight from QEMU's VNC socket,
# raw (the encoding aula-session asks QEMU for), one request after each
# update as aula-session does. No aula session runs meanwhile.
QSOCK=$(virsh -c qemu:///system domdisplay "$VM") || fail "virsh domdisplay $VM"
QSOCK=${QSOCK#vnc+unix://}
[ -S "$QSOCK" ] || fail "$VM's display is not a VNC UNIX socket: $QSOCK"
for wl in typing:F6 scroll:F8 motion:F7; do
    key=${wl#*:}
    wl=${wl%%:*}
    line=$("$METER" --encodings raw --key "$key" --warmup "$WARMUP" --duration "$SECONDS_PER_RUN" \
        --watch "qemu=$QPID" --label "$wl" "$QSOCK" 2>"$TMP/meter.err") ||
        fail "vncmeter $wl: $(cat "$TMP/meter.err")"
    echo "kind=source workload=$wl path=qemu-vnc-raw $line" >>"$RESULTS"
    ok "QEMU's VNC, raw: $wl measured"
done
# The guest goes idle, so that it costs next to nothing during the shadow
# server's turn; the VM stays the user's.
"$METER" --encodings raw --key F5 --warmup 0.5 --duration 0 "$QSOCK" >/dev/null 2>"$TMP/meter.err" ||
    fail "vncmeter F5: $(cat "$TMP/meter.err")"

# ---- 3. the same workloads through FreeRDP's shadow server ----
SHADOW_PORT=$(free_port)
DISPLAY=":$SHADOW_DISPLAY" "$XWORKLOAD" idle >"$TMP/xworkload-idle.log" 2>&1 &
XW_PID=$!
DISPLAY=":$SHADOW_DISPLAY" freerdp-shadow-cli "/port:$SHADOW_PORT" /bind-address:127.0.0.1 -auth \
    >"$TMP/shadow-server.log" 2>&1 &
SHADOW_PID=$!
wait_until 20 "freerdp-shadow-cli listens on $SHADOW_PORT" \
    sh -c "ss -tlnH '( sport = :$SHADOW_PORT )' | grep -q ."
for i in $(seq 1 "$CONNECTS"); do
    client "shadow-connect$i" "$SHADOW_PORT" /u:bench /p:bench
    connect_times "$TMP/shadow-connect$i.log" ||
        fail "shadow connect $i: no picture ($(tail -5 "$TMP/shadow-connect$i.log"))"
    echo "kind=connect path=shadow n=$i vm=- server_ms=- info_ms=$T_INFO mapped_ms=$T_MAP" \
        "surface_ms=$T_SURFACE" >>"$RESULTS"
    stop_client
done
ok "$CONNECTS connects to the shadow server"
client shadow "$SHADOW_PORT" /u:bench /p:bench
connect_times "$TMP/shadow.log" || fail "no picture from the shadow server ($(tail -5 "$TMP/shadow-server.log"))"
for wl in typing scroll motion; do
    kill "$XW_PID" 2>/dev/null
    wait "$XW_PID" 2>/dev/null
    DISPLAY=":$SHADOW_DISPLAY" "$XWORKLOAD" "$wl" >"$TMP/xworkload-$wl.log" 2>&1 &
    XW_PID=$!
    sleep "$WARMUP"
    kill -0 "$XW_PID" || fail "xworkload $wl: $(cat "$TMP/xworkload-$wl.log")"
    before=$(wc -l <"$TMP/xworkload-$wl.log")
    measure kind=workload workload="$wl" path=shadow -- "$TMP/shadow.log" "$SHADOW_PORT" "$SHADOW_PID" \
        "$XW_PID,$XVFB_SHADOW_PID"
    sfps=$(tail -n +$((before + 1)) "$TMP/xworkload-$wl.log" | sed -n 's/^fps \([0-9]*\)/\1/p' |
        awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "-" }')
    sed -i "\$s/\$/ source_fps=$sfps/" "$RESULTS"
    ok "shadow: $wl measured"
done
stop_client
kill "$XW_PID" "$SHADOW_PID" 2>/dev/null
wait "$XW_PID" "$SHADOW_PID" 2>/dev/null
XW_PID=
SHADOW_PID=

# ---- 4. the report ----
echo
echo "== bench_rdp: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs," \
    "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
echo "   $(virsh -c qemu:///system version 2>/dev/null | sed -n 's/.*hypervisor: //p') under TCG (domain type qemu)," \
    "$(xfreerdp --version 2>/dev/null | head -1 | sed 's/^This is //'), openh264" \
    "$(pkg-config --modversion openh264 2>/dev/null || echo '?') in aula-session"
echo "   load average at the start $LOAD_BEFORE, at the end $(cut -d' ' -f1-3 /proc/loadavg);" \
    "domains running on the host at the start $DOMAINS_BEFORE (others' too), at the end" \
    "$(virsh -c qemu:///system list --name | grep -c .)"
python3 - "$RESULTS" "$SECONDS_PER_RUN" "$HZ" "$WARMUP" <<'EOF'
import statistics, sys

rows = []
for line in open(sys.argv[1]):
    d = {}
    for word in line.split():
        if "=" in word:
            k, v = word.split("=", 1)
            d.setdefault(k, v)
    rows.append(d)
secs, hz, warm = sys.argv[2], float(sys.argv[3]), sys.argv[4]
# MS-RDPEGFX 2.2.2.1 codec ids, as xfreerdp's trace prints them.
CODECS = {"0": "uncompressed", "3": "cavideo", "8": "clear", "9": "progressive", "10": "planar",
          "11": "avc420", "12": "alpha", "14": "avc444", "15": "avc444v2"}

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def stat(vals):
    v = [x for x in vals if x is not None]
    return "%6.0f %6.0f" % (statistics.median(v), max(v)) if v else "     -      -"

print()
print("1. credentials -> first frame, 1920x1080, xfreerdp /gfx:avc420 on the same host, a fresh xfreerdp")
print("   each time. aula: one user; connect 1 takes the ready spare, the VM stays the user's between")
print("   connects (disconnect timeout 1 h), so connects 2-5 resume the same VM (guest in its default")
print("   picture). shadow: freerdp-shadow-cli, no authentication, xworkload idle on its screen.")
print("   server: aula-session's log, client's credentials in -> first desktop frame sent")
print("   client: ms after starting xfreerdp (polled every 10 ms): credentials sent (Client Info PDU),")
print("   window mapped, first graphics pipeline frame received; cred->frame is the difference")
print("   %-7s %-3s %-7s %9s %9s %9s %13s %13s" % ("server", "#", "VM", "server ms", "cred sent", "mapped",
                                                 "first frame", "cred->frame"))
for r in (r for r in rows if r.get("kind") == "connect"):
    cf = num(r["surface_ms"]) - num(r["info_ms"])
    print("   %-7s %-3s %-7s %9s %9s %9s %13s %13.0f" % (r["path"], r["n"], r["vm"], r["server_ms"], r["info_ms"],
                                                   r["mapped_ms"], r["surface_ms"], cf))
print("   %-7s %-49s %s" % ("", "", "median    max"))
for path in ("aula", "shadow"):
    cs = [r for r in rows if r.get("kind") == "connect" and r["path"] == path]
    if not cs:
        continue
    for key, what in (("server_ms", "server: credentials in -> first frame sent"),
                      ("mapped_ms", "client: start -> window mapped"),
                      ("surface_ms", "client: start -> first pipeline frame"),
                      (None, "client: credentials sent -> first pipeline frame")):
        if key:
            v = [num(r[key]) for r in cs]
        else:
            v = [num(r["surface_ms"]) - num(r["info_ms"]) for r in cs]
        if any(x is not None for x in v):
            print("   %-7s %-49s %s ms (n=%d)" % (path, what, stat(v), len(cs)))

print()
print("2./3. workloads at 1920x1080, %s s each after %s s of warm-up, one after the other:" % (secs, warm))
print("   aula = aulad + aula-session serving the testguest's 1920x1080 framebuffer (QEMU VNC raw ->")
print("   openh264 AVC420, small damage as planar tiles); shadow = freerdp-shadow-cli on Xvfb 1920x1080x24")
print("   showing tests/bench/xworkload (same workloads); one xfreerdp /gfx:avc420 for each server")
print("   bytes/s: what the client's TCP socket received (ss bytes_received: TLS records, all of RDP)")
print("   cmds/s: graphics surface commands the client received per second (xfreerdp's trace); one per")
print("   frame for AVC420, one per tile for planar")
print("   aulad fps: frames aula-session counted, as aulactl session list shows them, sampled each second")
print("   frames/s: cmds/s where all commands are AVC420, else (*) aulad fps")
print("   bytes/frame: bytes/s over frames/s; codec/frame: the codec's bytes per frame as the client")
print("   decoded them, after the channel's bulk decompression (ZGFX), so it can exceed bytes/frame")
print("   server cpu: utime+stime of aula-session / freerdp-shadow-cli, % of one core and ms per frame")
print("   source: what draws (QEMU under TCG; xworkload + its Xvfb), its steps/s (- for typing: the")
print("   guest does not count them; 20/s by design) and % of one core; client: xfreerdp, % of one core")
hdr = ("workload", "server", "bytes/s", "cmds/s", "aulad fps", "frames/s", "bytes/frame", "codec/frame",
       "codecs", "server cpu%", "cpu ms/frame", "source fps", "source cpu%", "client cpu%")
fmt = "   %-8s %-7s %10s %7s %9s %9s %11s %11s %-20s %11s %12s %10s %11s %11s"
print(fmt % hdr)
for wl in ("typing", "scroll", "motion"):
    for path in ("aula", "shadow"):
        for r in rows:
            if r.get("kind") != "workload" or r["workload"] != wl or r["path"] != path:
                continue
            s = num(r["ms"]) / 1000.0
            cmds = num(r["surface_cmds"]) / s
            codecs = [c.split(":") for c in r["codecs"].split("+") if ":" in c]
            af = [num(x) for x in r.get("aula_fps", "").split(",") if num(x) is not None]
            afps = statistics.mean(af) if af else None
            if all(c[0] == "11" for c in codecs):
                fps, mark = cmds, ""
            else:
                fps, mark = afps, "*"
            frames = fps * s if fps else None
            cpu = num(r["server_ticks"]) / hz
            print(fmt % (wl, path, "%.0f" % (num(r["rx"]) / s), "%.1f" % cmds,
                         "%.1f" % afps if afps is not None else "-",
                         "%.1f%s" % (fps, mark) if fps else "-",
                         "%.0f" % (num(r["rx"]) / frames) if frames else "-",
                         "%.0f" % (num(r["payload"]) / frames) if frames else "-",
                         "+".join("%s:%s" % (CODECS.get(c[0], c[0]), c[1]) for c in codecs) or "-",
                         "%.1f" % (100 * cpu / s), "%.2f" % (1000 * cpu / frames) if frames else "-",
                         r.get("source_fps", "-"), "%.1f" % (100 * num(r["source_ticks"]) / hz / s),
                         "%.1f" % (100 * num(r["client_ticks"]) / hz / s)))

src = [r for r in rows if r.get("kind") == "source"]
if src:
    print()
    print("   the source's ceiling: the same workloads read straight from QEMU's VNC socket in raw, as")
    print("   aula-session reads them (vncmeter, an incremental request after each update), no RDP")
    print("   %-8s %12s %10s %15s %10s" % ("workload", "updates/s", "MB/s", "px/update", "qemu cpu%"))
    for r in src:
        ups = num(r["updates"])
        print("   %-8s %12s %10.1f %15s %10s" % (r["workload"], r["updates_per_s"], num(r["bytes_per_s"]) / 1e6,
                                              "%.0f" % (num(r["pixels"]) / ups) if ups else "-",
                                              r.get("qemu_cpu", "-")))
print()
print("raw lines:")
for line in open(sys.argv[1]):
    print("   " + line.rstrip())
EOF
stop_aulad
echo "bench_rdp: done ($CHECKS steps)"
