#!/bin/bash
# aulactl through every command against a real aulad: the happy paths, every
# refusal (one-line error, non-zero exit, database unchanged), a peer without
# rights, and malformed requests sent straight to the socket.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || skip "sqlite3 is not installed (packaging/debian-packages.txt)"
command -v curl >/dev/null || skip "curl is not installed (packaging/debian-packages.txt)"
command -v qemu-img >/dev/null || skip "qemu-img is not installed (packaging/debian-packages.txt)"

setup_tmp
need_libvirt
# A memory budget of 1 MiB: pools are created and changed here, but no VM is
# ever started (tests/e2e/ runs real desktops); the budget's refusal is tested.
write_config "admin_group = " "memory_budget_mib = 1"
start_aulad

# ---- status and help
expect_ok "status" ctl status
expect_out '^aulad [0-9.]+, pid [0-9]+'
expect_out 'schema v3'
expect_out 'listeners: +admin .*: listening'
expect_ok "status --json" ctl status --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["counts"]["users"]==0 and d["schema_version"]==3' "$TMP/out" \
    || fail "status --json is not the expected JSON"
ok "status --json parses"
expect_ok "--help" ctl --help
expect_out 'pool create NAME'
for c in "status" "user add" "user passwd" "user rm" "user list" "user show" "group add" "group rm" \
    "group list" "group adduser" "group deluser" "template add" "template list" "template show" \
    "template rm" "pool create" "pool list" "pool show" "pool set" "pool rm" "entitle" "unentitle" \
    "session list" "audit"; do
    # shellcheck disable=SC2086
    ctl $c --help >"$TMP/out" 2>&1 || fail "'aulactl $c --help' failed"
    grep -q "Usage:" "$TMP/out" || fail "'aulactl $c --help' shows no usage"
done
ok "every command has --help"
expect_refused 2 "unknown command 'frobnicate'" "unknown command" ctl frobnicate
expect_refused 2 "'user' needs one of" "missing subcommand" ctl user
expect_refused 2 "user add needs NAME" "missing argument" ctl user add
expect_refused 2 "unexpected argument 'extra'" "extra argument" ctl user rm alice extra
expect_refused 2 "Unknown option --bogus" "unknown option" ctl user list --bogus
expect_refused 2 "use --password-stdin" "password with no terminal" ctl user add alice

# ---- users
expect_ok "user add alice" sh -c "echo 'correct horse' | $AULACTL --socket $SOCK user add alice --password-stdin --full-name 'Alice Liddell'"
expect_out "user 'alice' added"
expect_ok "user add bob" sh -c "echo pw | $AULACTL --socket $SOCK user add bob --password-stdin"
sqlite3 "$DB" "SELECT password_hash FROM users WHERE name='alice'" | grep -q '^\$y\$' || fail "alice's password is not a yescrypt hash"
sqlite3 "$DB" .dump | grep -q 'correct horse' && fail "a clear-text password reached the database"
grep -q 'correct horse' "$TMP/aulad.log" && fail "a clear-text password reached the log"
ok "passwords stored as yescrypt hashes only"
expect_refused 1 "user 'alice' already exists" "duplicate user" sh -c "echo pw | $AULACTL --socket $SOCK user add alice --password-stdin"
expect_refused 1 "invalid user name 'al ice'" "bad user name" sh -c "echo pw | $AULACTL --socket $SOCK user add 'al ice' --password-stdin"
expect_refused 1 "invalid user name 'eve@lab'" "user name with @" sh -c "echo pw | $AULACTL --socket $SOCK user add eve@lab --password-stdin"
expect_refused 2 "no password on standard input" "empty password" sh -c "printf '' | $AULACTL --socket $SOCK user add carol --password-stdin"
expect_refused 1 "control character" "password with a control character" sh -c "printf 'a\tb\n' | $AULACTL --socket $SOCK user add carol --password-stdin"
expect_ok "user list" ctl user list
expect_out '^alice +Alice Liddell'
expect_out '^bob '
expect_ok "user list --json" ctl user list --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [u["name"] for u in d]==["alice","bob"]; assert all(k not in ("password", "password_hash") and "hash" not in k for u in d for k in u)' "$TMP/out" \
    || fail "user list --json: wrong content or a password field"
ok "user list --json has no password fields"
expect_ok "user show" ctl user show alice
expect_out '^full name: +Alice Liddell'
expect_refused 3 "unknown user 'nobody-here'" "show unknown user" ctl user show nobody-here
old=$(sqlite3 "$DB" "SELECT password_hash FROM users WHERE name='bob'")
expect_ok "user passwd" sh -c "echo newpw | $AULACTL --socket $SOCK user passwd bob --password-stdin"
[ "$old" != "$(sqlite3 "$DB" "SELECT password_hash FROM users WHERE name='bob'")" ] || fail "passwd did not change the hash"
expect_refused 3 "unknown user 'zed'" "passwd of unknown user" sh -c "echo pw | $AULACTL --socket $SOCK user passwd zed --password-stdin"

# ---- groups
expect_ok "group add" ctl group add staff
expect_refused 1 "group 'staff' already exists" "duplicate group" ctl group add staff
expect_ok "group adduser" ctl group adduser staff alice
expect_refused 1 "user 'alice' is already in group 'staff'" "duplicate membership" ctl group adduser staff alice
expect_refused 3 "unknown user 'zed'" "adduser unknown user" ctl group adduser staff zed
expect_refused 3 "unknown group 'nope'" "adduser unknown group" ctl group adduser nope alice
expect_ok "group list" ctl group list
expect_out '^staff +alice'
expect_refused 3 "user 'bob' is not in group 'staff'" "deluser non-member" ctl group deluser staff bob
expect_ok "group deluser" ctl group deluser staff alice
expect_ok "group adduser again" ctl group adduser staff alice

# ---- templates
qemu-img create -q -f qcow2 "$TMP/deb12.qcow2" 64M
head -c 4096 /dev/zero >"$TMP/raw.img"
mkdir "$TMP/adir"
expect_ok "template add" ctl template add deb12 --disk "$TMP/deb12.qcow2" --memory 2G --vcpus 2 --video virtio --os linux
(cd "$TMP" && "$AULACTL" --socket "$SOCK" template add rel --disk deb12.qcow2 --memory 1536M >/dev/null) || fail "template add with a relative disk path"
[ "$(sqlite3 "$DB" "SELECT disk_path FROM templates WHERE name='rel'")" = "$TMP/deb12.qcow2" ] || fail "relative disk path not made absolute"
ok "relative --disk resolved to an absolute path"
expect_ok "template show" ctl template show deb12
expect_out '^memory: +2 GiB'
expect_out '^vcpus: +2'
expect_out '^format: +qcow2'
expect_out '^size: +64.0 MiB virtual'
expect_out "^image: +$STATE/images/deb12.template.qcow2"
[ "$(stat -c %a "$STATE/images/deb12.template.qcow2")" = 444 ] || fail "the imported template is not read-only"
virsh -c qemu:///system vol-list "$STORAGE_POOL" | grep -q deb12.template.qcow2 || fail "the template is not a volume of $STORAGE_POOL"
ok "the template's disk is a read-only volume of aula's storage pool"
expect_ok "template list" ctl template list
expect_out '^rel +1536 MiB'
expect_refused 1 "template 'deb12' already exists" "duplicate template" ctl template add deb12 --disk "$TMP/deb12.qcow2"
expect_refused 1 "cannot use disk $TMP/missing.qcow2: No such file or directory" "missing disk" ctl template add t2 --disk "$TMP/missing.qcow2"
qemu-img create -q -f qcow2 -b "$TMP/deb12.qcow2" -F qcow2 "$TMP/child.qcow2"
expect_refused 1 "has a backing file" "disk with a backing file" ctl template add t2 --disk "$TMP/child.qcow2"
expect_refused 1 "an initrd or a kernel command line needs a kernel" "initrd without kernel" ctl template add t2 --disk "$TMP/deb12.qcow2" --initrd "$TMP/raw.img"
expect_refused 1 "cannot use kernel $TMP/nokernel" "missing kernel" ctl template add t2 --disk "$TMP/deb12.qcow2" --kernel "$TMP/nokernel"
expect_refused 1 "not a qcow2 disk image" "non-disk file" ctl template add t2 --disk "$TMP/raw.img"
expect_refused 1 "not a regular file" "directory as disk" ctl template add t2 --disk "$TMP/adir"
expect_refused 2 "template add needs --disk" "no --disk" ctl template add t2
expect_refused 2 "--memory 'lots'" "bad memory" ctl template add t2 --disk "$TMP/deb12.qcow2" --memory lots
expect_refused 2 "--vcpus '0'" "zero vcpus" ctl template add t2 --disk "$TMP/deb12.qcow2" --vcpus 0
expect_refused 1 "unknown video model 'cirrus'" "bad video" ctl template add t2 --disk "$TMP/deb12.qcow2" --video cirrus
expect_refused 1 "unknown OS type 'beos'" "bad os" ctl template add t2 --disk "$TMP/deb12.qcow2" --os beos
expect_refused 1 "unknown firmware 'coreboot'" "bad firmware" ctl template add t2 --disk "$TMP/deb12.qcow2" --firmware coreboot
expect_refused 3 "unknown template 'nope'" "show unknown template" ctl template show nope

# ---- pools
expect_ok "pool create" ctl pool create lab --template deb12 --min 2 --max 20 --spare 2
expect_refused 1 "pool 'lab' already exists" "duplicate pool" ctl pool create lab --template deb12 --max 3
expect_refused 1 "min (5) is greater than max (2)" "min > max" ctl pool create p2 --template deb12 --min 5 --max 2
expect_refused 1 "spare (3) is greater than max (2)" "spare > max" ctl pool create p2 --template deb12 --max 2 --spare 3
expect_refused 3 "unknown template 'nope'" "pool of unknown template" ctl pool create p2 --template nope
expect_refused 2 "pool create needs --template" "pool without template" ctl pool create p2
expect_refused 2 "--max 'many'" "non-numeric max" ctl pool create p2 --template deb12 --max many
expect_refused 1 "invalid protocols 'spice'" "bad protocols" ctl pool create p2 --template deb12 --protocols spice
expect_refused 1 "unknown clone mode 'deep'" "bad clone mode" ctl pool create p2 --template deb12 --clone deep
expect_refused 2 "--disconnect-timeout 'soon'" "bad timeout" ctl pool create p2 --template deb12 --disconnect-timeout soon
expect_ok "persistent pool" ctl pool create home --template rel --max 5 --spare 0 --persistent --clone full --protocols rdp --disconnect-timeout 1h
expect_ok "pool show" ctl pool show home
expect_out '^persistent: +yes'
expect_out '^clone: +full'
expect_out '^disconnect timeout: +1h'
expect_ok "pool set" ctl pool set lab --min 1 --max 10 --spare 3 --idle-timeout 30m --persistent no
expect_ok "pool show after set" ctl pool show lab
expect_out '^size: +min 1, max 10, spare 3'
expect_out '^idle timeout: +30m'
expect_refused 1 "min (11) is greater than max (10)" "pool set min > max" ctl pool set lab --min 11
expect_refused 1 "spare (4) is greater than max (2)" "pool set max below spare" ctl pool set lab --max 2 --spare 4
expect_refused 3 "unknown pool 'nope'" "pool set unknown pool" ctl pool set nope --max 3
expect_refused 2 "pool set needs at least one setting" "pool set nothing" ctl pool set lab
expect_refused 2 "--persistent 'maybe'" "pool set bad bool" ctl pool set lab --persistent maybe
expect_ok "pool list" ctl pool list
expect_out '^lab +deb12 +1 +10 +3 +no +rdp,vnc +0'
expect_refused 1 "template 'deb12' is used by pool(s) lab" "remove template in use" ctl template rm deb12
sleep 1
expect_ok "pool show: held back by the memory budget" ctl pool show lab
expect_out '^note: +not creating 3 more VM\(s\): 0 MiB in use \+ 2048 MiB would exceed the memory budget of 1 MiB'
expect_out '^VMs: +0'
expect_ok "no VMs were made" ctl vm list
expect_out '^no VMs'
expect_refused 3 "unknown VM 'aula-lab-1'" "show unknown VM" ctl vm show aula-lab-1
expect_refused 3 "unknown VM 'aula-lab-1'" "start unknown VM" ctl vm start aula-lab-1
expect_refused 1 "unknown VM state 'sleepy'" "vm list bad state" ctl vm list --state sleepy
expect_refused 2 "pool allocate needs --user NAME" "allocate without user" ctl pool allocate lab
rc=0
ctl pool allocate lab --user bob >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -eq 4 ] && grep -q "user 'bob' is not entitled to pool 'lab'" "$TMP/err" || fail "allocate without entitlement: exit $rc: $(cat "$TMP/err")"
# The refusal's audit row is the one change it makes.
sqlite3 "$DB" "SELECT outcome FROM audit_log WHERE action='allocate' AND user_name='bob'" | grep -qx refused || fail "the refused allocation is not audited"
ok "a refused allocation is refused (403) and audited"

# ---- entitlements
expect_ok "entitle user" ctl entitle --user bob --pool lab
expect_ok "entitle group" ctl entitle --group staff --pool lab
expect_refused 1 "user 'bob' is already entitled to pool 'lab'" "duplicate entitlement" ctl entitle --user bob --pool lab
expect_refused 3 "unknown pool 'nope'" "entitle to unknown pool" ctl entitle --user bob --pool nope
expect_refused 3 "unknown user 'zed'" "entitle unknown user" ctl entitle --user zed --pool lab
expect_refused 3 "unknown group 'nope'" "entitle unknown group" ctl entitle --group nope --pool lab
expect_refused 2 "name exactly one of --user NAME and --group NAME" "entitle both" ctl entitle --user bob --group staff --pool lab
expect_refused 2 "name the pool with --pool NAME" "entitle without pool" ctl entitle --user bob
expect_ok "user show lists pools through groups" ctl user show alice
expect_out '^pools: +lab'
expect_ok "pool show lists entitlements" ctl pool show lab
expect_out '^entitled users: +bob'
expect_out '^entitled groups: +staff'
expect_ok "unentitle" ctl unentitle --user bob --pool lab
expect_refused 3 "user 'bob' is not entitled to pool 'lab'" "unentitle twice" ctl unentitle --user bob --pool lab

# ---- sessions (rows appear with the sessions feature; insert one as the session code will)
expect_ok "session list (empty)" ctl session list
expect_out 'no active sessions'
now=$(date +%s)
sqlite3 "$DB" "INSERT INTO sessions (user_id, user_name, pool_id, pool_name, protocol, client_addr, state, created_at, state_since)
    SELECT u.id, u.name, p.id, p.name, 'rdp', '192.0.2.7', 'connected', $now, $now FROM users u, pools p WHERE u.name='alice' AND p.name='lab'"
expect_ok "session list" ctl session list
expect_out '^1 +alice +lab +- +192.0.2.7 +rdp'
expect_refused 1 "pool 'lab' has 1 active session(s)" "remove pool with an active session" ctl pool rm lab
expect_refused 1 "user 'alice' has 1 active session(s)" "remove user with an active session" ctl user rm alice
sqlite3 "$DB" "UPDATE sessions SET state='logged_off', ended_at=$now"
expect_ok "session list --all" ctl session list --all
expect_out 'logged_off'

# ---- a peer without rights, then one in admin_group
cp "$AULACTL" "$TMP/aulactl"
chmod 755 "$TMP/aulactl"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$TMP/aulactl" --socket "$SOCK" "$@"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "note: not root, the unprivileged-peer checks need setpriv as root"
else
    expect_refused 4 "permission denied" "unprivileged status" as_nobody status
    expect_refused 4 "permission denied" "unprivileged user add" sh -c "echo pw | setpriv --reuid=nobody --regid=nogroup --clear-groups $TMP/aulactl --socket $SOCK user add mallory --password-stdin"
    expect_refused 4 "permission denied" "unprivileged pool rm" as_nobody pool rm home
    grep -q "denied .* to nobody" "$TMP/aulad.log" || fail "the denial is not logged"
    ok "denials are logged with the peer's name"
    write_config "admin_group = nogroup" "memory_budget_mib = 1"
    kill -HUP "$AULAD_PID"
    for _ in $(seq 1 50); do grep -q "reloaded" "$TMP/aulad.log" && break; sleep 0.1; done
    expect_ok "admin_group member (after SIGHUP)" as_nobody group add viewers
    sqlite3 "$DB" "SELECT actor FROM audit_log WHERE action='group.add' AND target='viewers'" | grep -qx nobody \
        || fail "the audit row does not name the admin_group member"
    ok "audit names the admin_group member"
fi

# ---- malformed requests straight to the socket
raw() { curl -s --unix-socket "$SOCK" -o "$TMP/out" -w '%{http_code}' "$@"; }
expect_status() {
    local want=$1 what=$2 code before after
    shift 2
    before=$(db_dump)
    code=$(raw "$@")
    after=$(db_dump)
    [ "$code" = "$want" ] || fail "$what: HTTP $code, expected $want: $(cat "$TMP/out")"
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["status"]==int(sys.argv[2]) and e["message"]' "$TMP/out" "$want" \
        || fail "$what: the body is not a JSON error: $(cat "$TMP/out")"
    [ "$before" = "$after" ] || fail "$what: the database changed"
    ok "$what"
}
expect_status 400 "malformed JSON" -X POST -d '{"name": "x", ' http://aulad/v1/users
expect_status 400 "JSON array body" -X POST -d '["x"]' http://aulad/v1/groups
expect_status 400 "unknown field" -X POST -d '{"name": "x", "admin": true}' http://aulad/v1/groups
expect_status 400 "wrong type" -X POST -d '{"name": "x", "template": "deb12", "max": "3"}' http://aulad/v1/pools
expect_status 400 "fractional number" -X POST -d '{"name": "x", "template": "deb12", "max": 2.5}' http://aulad/v1/pools
expect_status 400 "missing field" -X POST -d '{"password": "pw"}' http://aulad/v1/users
expect_status 400 "empty body" -X POST http://aulad/v1/groups
printf '{"name": "a\000b"}' >"$TMP/nul.json"
expect_status 400 "NUL in JSON" -X POST --data-binary "@$TMP/nul.json" http://aulad/v1/groups
expect_status 400 "bad query number" http://aulad/v1/audit?since=yesterday
expect_status 404 "unknown resource" http://aulad/v1/frobs
expect_status 404 "outside /v1" http://aulad/admin
expect_status 405 "wrong method" -X PUT -d '{}' http://aulad/v1/pools
curl -s -i --unix-socket "$SOCK" -X PUT -d '{}' http://aulad/v1/pools | grep -qi '^Allow: GET, POST' || fail "405 without an Allow header"
ok "405 carries an Allow header"
expect_status 413 "oversized body" -X POST -H 'Content-Type: application/json' --data-binary "@$(python3 -c 'import sys; open(sys.argv[1],"w").write("{\"name\": \"" + "x"*70000 + "\"}")' "$TMP/big.json"; echo "$TMP/big.json")" http://aulad/v1/groups
# Garbage that is not HTTP at all: the connection is dropped, aulad lives on.
python3 - "$SOCK" <<'PY' || fail "raw garbage: the socket misbehaved"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n")
try:
    data = s.recv(4096)
except socket.timeout:
    sys.exit(1)
assert data == b"" or (data.startswith(b"HTTP/1.") and b" 400 " in data[:16]), data[:80]
PY
expect_ok "aulad alive after garbage" ctl status
ok "non-HTTP bytes rejected"

# ---- audit
expect_ok "audit" ctl audit
expect_out 'root +user.add +alice +ok'
expect_out 'root +pool.create +lab +ok +template=deb12 min=2 max=20 spare=2'
expect_ok "audit --pool" ctl audit --pool lab --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d and all(e["pool"]=="lab" for e in d)' "$TMP/out" || fail "audit --pool filter"
expect_ok "audit --user" ctl audit --user bob --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert {e["action"] for e in d} >= {"user.add","user.passwd","entitle","unentitle"} and all(e["user"]=="bob" for e in d)' "$TMP/out" || fail "audit --user filter"
expect_ok "audit --since in the future" ctl audit --since 2999-01-01 --json
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" = 0 ] || fail "audit --since did not filter"
expect_ok "audit --since 1h --limit 2" ctl audit --since 1h --limit 2 --json
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$TMP/out")" = 2 ] || fail "audit --limit"
expect_ok "audit --since with minutes" ctl audit --since "$(date -d '-1 hour' +%Y-%m-%dT%H:%M)" --json
grep -q '"action" : "user.add"' "$TMP/out" || fail "audit --since YYYY-MM-DDTHH:MM lost entries"
expect_ok "audit --since 30s" ctl audit --since 300s
expect_refused 2 "--since 'last tuesday'" "audit bad --since" ctl audit --since "last tuesday"

# ---- removals
expect_ok "pool rm" ctl pool rm lab
expect_refused 3 "unknown pool 'lab'" "pool rm twice" ctl pool rm lab
expect_ok "template rm" ctl template rm deb12
expect_ok "group rm" ctl group rm staff
expect_ok "user rm" ctl user rm alice
expect_refused 3 "unknown user 'alice'" "user rm twice" ctl user rm alice
[ "$(sqlite3 "$DB" "SELECT count(*) FROM memberships")" = 0 ] || fail "memberships outlived their user/group"
ok "removals cascade to memberships"

stop_aulad
ok "aulad stopped cleanly"
expect_refused 5 "cannot reach aulad" "aulad not running" ctl status
finish
