#!/bin/bash
# End to end: a real libvirtd, the testguest under TCG, the real aulad and
# aulactl. Template -> pool (max 3, spare 2) -> spares boot -> allocate and
# release in a loop -> a reset really discards the guest's disk changes ->
# kill -9 aulad while it provisions, restart, and check nothing leaked.
. "$(dirname "$0")/e2e.sh"

template_add tg
expect_ok "pool create" ctl pool create "$POOL" --template tg --min 0 --max 3 --spare 2 --network none
echo pw | ctl user add alice --password-stdin >/dev/null || fail "user add"
ctl entitle --user alice --pool "$POOL" >/dev/null || fail "entitle"

wait_until 120 "two spares ready" has_ready 2
for vm in $(ctl vm list --pool "$POOL" --json | python3 -c 'import json,sys; print(" ".join(v["name"] for v in json.load(sys.stdin)))'); do
    wait_until 90 "$vm's guest boots (serial: TESTGUEST ready)" serial_has "$vm" "TESTGUEST ready"
    virsh -c qemu:///system dumpxml "$vm" | grep -q "<backingStore type='file'" || fail "$vm's disk is not a linked clone"
done
ok "spares are linked clones of the template"

# Allocate: a spare is assigned; the pool makes another.
expect_ok "allocate" ctl pool allocate "$POOL" --user alice --json
A=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm"])' "$TMP/out")
[ "$(ctl vm show "$A" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["owner"])')" = "assigned alice" ] ||
    fail "$A is not assigned to alice"
wait_until 120 "the pool refills to two spares" has_ready 2
[ "$(ctl vm list --pool "$POOL" --json | json_count)" -eq 3 ] || fail "the pool does not have 3 VMs"
ok "the pool never exceeds max"

# The guest writes to its disk (F12), then release resets it to the template.
virsh -c qemu:///system send-key "$A" KEY_F12 >/dev/null || fail "send-key"
wait_until 30 "$A wrote its disk marker" serial_has "$A" "TESTGUEST marker written"
boots=$(serial "$A" | grep -c "TESTGUEST boot")
expect_ok "release" ctl vm release "$A"
more_boots() { [ "$(serial "$A" | grep -c "TESTGUEST boot")" -gt "$boots" ] && serial "$A" | grep "TESTGUEST marker" | tail -1 | grep -q .; }
wait_until 90 "$A boots again after the reset" more_boots
wait_until 30 "$A reports its marker after the reset" sh -c "tail -n +1 '$STATE/logs/$A.serial.log' | awk '/TESTGUEST boot/{n++} n>$boots' | grep -q 'TESTGUEST marker'"
serial "$A" | awk "/TESTGUEST boot/{n++} n>$boots" | grep "TESTGUEST marker" | tail -1 | grep -q "marker absent" ||
    fail "the reset kept the guest's disk changes: $(serial "$A" | grep "TESTGUEST marker" | tail -2)"
ok "the reset discarded the guest's disk changes"
[ "$(ctl vm show "$A" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["owner"])')" = "ready None" ] ||
    fail "$A did not come back as a spare"

# Allocate and release in a loop; never two users on one VM.
echo pw | ctl user add bob --password-stdin >/dev/null
ctl entitle --user bob --pool "$POOL" >/dev/null
for i in 1 2 3; do
    ctl pool allocate "$POOL" --user alice --json >"$TMP/a1" || fail "loop $i: allocate alice"
    ctl pool allocate "$POOL" --user bob --json >"$TMP/a2" || fail "loop $i: allocate bob"
    va=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm"])' "$TMP/a1")
    vb=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm"])' "$TMP/a2")
    [ "$va" != "$vb" ] || fail "loop $i: alice and bob both got $va"
    ctl vm release "$va" >/dev/null || fail "loop $i: release $va"
    ctl vm release "$vb" >/dev/null || fail "loop $i: release $vb"
    wait_until 120 "loop $i: spares ready again" has_ready 2
done
ok "allocate/release loop"

# kill -9 aulad while it provisions; a restart must leave nothing behind.
ctl pool set "$POOL" --max 3 --spare 3 >/dev/null || fail "pool set"
for _ in $(seq 1 100); do grep -q "pool $POOL: creating" "$TMP/aulad.log" && break; sleep 0.05; done
kill -KILL "$AULAD_PID"
wait "$AULAD_PID" 2>/dev/null
AULAD_PID=
ok "aulad killed while provisioning"
# A domain named like aula's that the database does not know: reported, left alone.
STRAY=aula-${POOL}-99
virsh -c qemu:///system dumpxml "$A" | sed -e "s#<name>$A</name>#<name>$STRAY</name>#" -e '/<uuid>/d' \
    -e '/<mac address/d' >"$TMP/stray.xml"
virsh -c qemu:///system define "$TMP/stray.xml" >/dev/null || fail "cannot define the stray domain"
start_aulad
for _ in $(seq 1 50); do grep -q "domain $STRAY is not in aula's database: left alone" "$TMP/aulad.log" && break; sleep 0.1; done
grep -q "domain $STRAY is not in aula's database: left alone" "$TMP/aulad.log" || fail "the unknown domain was not reported"
virsh -c qemu:///system domstate "$STRAY" >/dev/null 2>&1 || fail "the unknown domain was touched"
virsh -c qemu:///system undefine "$STRAY" >/dev/null
ok "an unknown aula-* domain is reported and left alone"
settled() {
    local states
    states=$(ctl vm list --pool "$POOL" --json | python3 -c 'import json,sys; print(" ".join(sorted(v["state"] for v in json.load(sys.stdin))))')
    [ "$states" = "ready ready ready" ]
}
wait_until 180 "after the restart the pool settles at 3 ready VMs" settled
python3 - "$STATE/aula.db" "$POOL" <<'PY' || fail "leak or duplicate after the crash"
import sqlite3, subprocess, sys
db, pool = sys.argv[1], sys.argv[2]
rows = {r[0] for r in sqlite3.connect(db).execute(
    "SELECT v.name FROM vms v JOIN pools p ON p.id = v.pool_id WHERE p.name = ?", (pool,))}
doms = [d for d in subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
        capture_output=True, text=True).stdout.split() if d.startswith(f"aula-{pool}-")]
assert len(doms) == len(set(doms)), f"duplicate domains {doms}"
assert set(doms) == rows, f"domains {sorted(doms)} != database {sorted(rows)}"
PY
pool_name=$(grep '^storage_pool' "$CONF" | sed 's/.*= //')
vols=$(virsh -c qemu:///system vol-list "$pool_name" | awk 'NR>2 && $1 ~ /^aula-/ {print $1}' | sort)
want=$(ctl vm list --pool "$POOL" --json | python3 -c 'import json,sys; print("\n".join(sorted(v["name"] + ".qcow2" for v in json.load(sys.stdin))))')
[ "$vols" = "$want" ] || fail "disks after the crash: $vols, expected $want"
ok "no leaked disk, no duplicate domain, no VM stuck"

# Clean up through aulad: an empty pool, then remove it.
ctl pool set "$POOL" --min 0 --spare 0 --max 1 >/dev/null
empty() { [ "$(ctl vm list --pool "$POOL" --json | json_count)" -eq 0 ]; }
wait_until 60 "the pool empties" empty
expect_ok "pool rm" ctl pool rm "$POOL"
stop_aulad
ok "aulad stopped cleanly"
finish
