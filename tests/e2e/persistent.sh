#!/bin/bash
# End to end: a persistent pool keeps each user's VM and its disk; snapshots
# (create, list, revert, delete) and backups (running and stopped) of such a
# VM; snapshots refused for a non-persistent pool.
. "$(dirname "$0")/e2e.sh"

template_add tg
expect_ok "persistent pool" ctl pool create "$POOL" --template tg --min 0 --max 2 --spare 1 --persistent --network none
expect_ok "non-persistent pool" ctl pool create "${POOL}np" --template tg --max 1 --spare 1 --network none
echo pw | ctl user add alice --password-stdin >/dev/null || fail "user add"
ctl entitle --user alice --pool "$POOL" >/dev/null || fail "entitle"

wait_until 120 "a spare is ready" has_ready 1
expect_ok "allocate" ctl pool allocate "$POOL" --user alice --json
A=$(alloc_vm "$TMP/out")
wait_until 90 "$A's guest boots" serial_has "$A" "TESTGUEST ready"

# The user's changes survive a release in a persistent pool.
virsh -c qemu:///system send-key "$A" KEY_F12 >/dev/null || fail "send-key"
wait_until 30 "$A wrote its disk marker" serial_has "$A" "TESTGUEST marker written"
expect_ok "release" ctl vm release "$A"
[ "$(vm_field "$A" owner)" = alice ] || fail "a persistent VM lost its owner on release"
ok "a persistent VM stays its owner's"

# Snapshots.
expect_ok "snapshot create" ctl vm snapshot create "$A" before
expect_ok "snapshot list" ctl vm snapshot list "$A"
expect_out '^before +[0-9-]+ [0-9:]+ +running +yes'
expect_refused 1 "already has a snapshot 'before'" "duplicate snapshot" ctl vm snapshot create "$A" before
expect_refused 1 "invalid snapshot name" "bad snapshot name" ctl vm snapshot create "$A" "no/slash"
expect_refused 3 "has no snapshot 'nope'" "revert unknown snapshot" ctl vm snapshot revert "$A" nope
expect_refused 3 "unknown VM 'aula-none-1'" "snapshot of unknown VM" ctl vm snapshot create aula-none-1 x
wait_until 60 "the other pool's spare is ready" sh -c "[ \"\$($AULACTL --socket $SOCK vm list --pool ${POOL}np --state ready --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" -ge 1 ]"
NP=$(ctl vm list --pool "${POOL}np" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')
expect_refused 1 "snapshots are for VMs of persistent pools" "snapshot in a non-persistent pool" ctl vm snapshot create "$NP" x
expect_ok "snapshot revert" ctl vm snapshot revert "$A" before
[ "$(virsh -c qemu:///system domstate "$A")" = running ] || fail "$A is not running after reverting to a running snapshot"
expect_ok "snapshot delete" ctl vm snapshot delete "$A" before
expect_ok "snapshot list after delete" ctl vm snapshot list "$A"
expect_out '^no snapshots'
sqlite3 "$DB" "SELECT action || ' ' || outcome FROM audit_log WHERE target = '$A' AND action LIKE 'vm.snapshot%'" >"$TMP/audit"
for a in create revert delete; do grep -qx "vm.snapshot.$a ok" "$TMP/audit" || fail "no audit row for snapshot $a"; done
ok "snapshot actions are audited"

# Backups: standalone qcow2 images, from a running and from a stopped VM.
mkdir -p "$TMP/backups"
expect_ok "backup (running)" ctl vm backup "$A" "$TMP/backups/running.qcow2"
qemu-img info --output=json "$TMP/backups/running.qcow2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["format"] == "qcow2", d["format"]
assert "backing-filename" not in d, d.get("backing-filename")
assert d["virtual-size"] == 64 * 1024 * 1024, d["virtual-size"]' || fail "the running backup is not a standalone 64 MiB qcow2"
ok "the running backup is a standalone qcow2"
# The marker the guest wrote is in the backup's first sector.
qemu-img dd -f qcow2 -O raw if="$TMP/backups/running.qcow2" of="$TMP/sector0" bs=512 count=1 2>/dev/null
grep -q "AULA-MARKER" "$TMP/sector0" || fail "the backup lacks the guest's disk marker"
ok "the backup holds the guest's data"
expect_refused 1 "exists already: a backup never overwrites" "backup over an existing file" ctl vm backup "$A" "$TMP/backups/running.qcow2"
expect_refused 3 "no such directory" "backup into a missing directory" ctl vm backup "$A" "$TMP/nowhere/x.qcow2"
virsh -c qemu:///system destroy "$A" >/dev/null || fail "virsh destroy"
stopped() { [ "$(vm_field "$A" state)" = stopped ]; }
wait_until 30 "$A is seen as stopped" stopped
[ "$(vm_field "$A" owner)" = alice ] || fail "$A lost its owner when it stopped"
expect_ok "backup (stopped)" ctl vm backup "$A" "$TMP/backups/stopped.qcow2"
qemu-img info --output=json "$TMP/backups/stopped.qcow2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["format"] == "qcow2" and "backing-filename" not in d, d' || fail "the stopped backup is not a standalone qcow2"
ok "the stopped backup is a standalone qcow2"

# The owner comes back to the same VM, started again, disk intact.
expect_ok "allocate again" ctl pool allocate "$POOL" --user alice --json
[ "$(alloc_vm "$TMP/out")" = "$A" ] || fail "alice got another VM"
boots=$(serial "$A" | grep -c "TESTGUEST boot")
again() { [ "$(serial "$A" | grep -c "TESTGUEST boot")" -gt "$boots" ] && serial "$A" | awk "/TESTGUEST boot/{n++} n>$boots" | grep -q "TESTGUEST marker"; }
wait_until 90 "$A boots again for its owner" again
serial "$A" | awk "/TESTGUEST boot/{n++} n>$boots" | grep "TESTGUEST marker" | tail -1 | grep -q "marker present" ||
    fail "the persistent VM lost its disk changes"
ok "a persistent VM keeps its disk"

ctl pool set "$POOL" --spare 0 --min 0 >/dev/null
ctl pool set "${POOL}np" --spare 0 --min 0 >/dev/null
ctl vm destroy "$A" >/dev/null || fail "vm destroy"
gone() { [ "$(ctl vm list --json | json_count)" -eq 0 ]; }
wait_until 60 "all VMs removed" gone
stop_aulad
ok "aulad stopped cleanly"
finish
