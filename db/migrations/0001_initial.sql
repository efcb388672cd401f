-- aula schema v1.
-- Timestamps are UNIX seconds (UTC). Names are validated by db/ before they get here;
-- the CHECKs below are the last line of defence against bad rows.

CREATE TABLE hosts (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    libvirt_uri       TEXT    NOT NULL,
    memory_budget_mib INTEGER NOT NULL DEFAULT 0 CHECK (memory_budget_mib >= 0), -- 0: host RAM minus a reserve
    created_at        INTEGER NOT NULL
);

CREATE TABLE templates (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    disk_path   TEXT    NOT NULL,
    memory_mib  INTEGER NOT NULL CHECK (memory_mib BETWEEN 64 AND 4194304),
    vcpus       INTEGER NOT NULL CHECK (vcpus BETWEEN 1 AND 512),
    video       TEXT    NOT NULL DEFAULT 'virtio' CHECK (video IN ('virtio', 'qxl', 'vga')),
    firmware    TEXT    NOT NULL DEFAULT 'bios'   CHECK (firmware IN ('bios', 'uefi')),
    os          TEXT    NOT NULL DEFAULT 'linux'  CHECK (os IN ('linux', 'windows')),
    created_at  INTEGER NOT NULL
);

CREATE TABLE pools (
    id                 INTEGER PRIMARY KEY,
    name               TEXT    NOT NULL UNIQUE,
    template_id        INTEGER NOT NULL REFERENCES templates(id) ON DELETE RESTRICT,
    min_size           INTEGER NOT NULL DEFAULT 0 CHECK (min_size >= 0),
    max_size           INTEGER NOT NULL CHECK (max_size >= 1),
    spare              INTEGER NOT NULL DEFAULT 0 CHECK (spare >= 0),
    persistent         INTEGER NOT NULL DEFAULT 0 CHECK (persistent IN (0, 1)),
    clone              TEXT    NOT NULL DEFAULT 'linked' CHECK (clone IN ('linked', 'full')),
    protocols          TEXT    NOT NULL DEFAULT 'rdp,vnc',
    disconnect_timeout INTEGER NOT NULL DEFAULT 300 CHECK (disconnect_timeout >= 0),
    idle_timeout       INTEGER NOT NULL DEFAULT 0   CHECK (idle_timeout >= 0),
    created_at         INTEGER NOT NULL,
    CHECK (min_size <= max_size AND spare <= max_size)
);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    name                TEXT    NOT NULL UNIQUE,
    full_name           TEXT    NOT NULL DEFAULT '',
    password_hash       TEXT    NOT NULL,
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id  INTEGER NOT NULL REFERENCES users(id)  ON DELETE CASCADE,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX memberships_group ON memberships(group_id);

-- An entitlement names exactly one of a user or a group.
CREATE TABLE entitlements (
    id         INTEGER PRIMARY KEY,
    pool_id    INTEGER NOT NULL REFERENCES pools(id)  ON DELETE CASCADE,
    user_id    INTEGER          REFERENCES users(id)  ON DELETE CASCADE,
    group_id   INTEGER          REFERENCES groups(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX entitlements_user  ON entitlements(pool_id, user_id)  WHERE user_id  IS NOT NULL;
CREATE UNIQUE INDEX entitlements_group ON entitlements(pool_id, group_id) WHERE group_id IS NOT NULL;

CREATE TABLE vms (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    pool_id      INTEGER NOT NULL REFERENCES pools(id) ON DELETE RESTRICT,
    host_id      INTEGER NOT NULL REFERENCES hosts(id) ON DELETE RESTRICT,
    uuid         TEXT    UNIQUE,
    mac          TEXT,
    overlay_path TEXT,
    state        TEXT    NOT NULL DEFAULT 'provisioning' CHECK (state IN
                 ('provisioning', 'stopped', 'starting', 'ready', 'assigned', 'in_use', 'recycling', 'deleted', 'error')),
    owner_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    error        TEXT,
    state_since  INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX vms_pool_state ON vms(pool_id, state);

-- Sessions keep the user and pool names so that history survives removals.
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    user_name   TEXT    NOT NULL,
    pool_id     INTEGER REFERENCES pools(id) ON DELETE SET NULL,
    pool_name   TEXT    NOT NULL,
    vm_id       INTEGER REFERENCES vms(id)   ON DELETE SET NULL,
    protocol    TEXT    NOT NULL CHECK (protocol IN ('rdp', 'vnc')),
    client_addr TEXT    NOT NULL DEFAULT '',
    encoding    TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL CHECK (state IN
                ('authenticating', 'waiting_for_vm', 'connected', 'disconnected', 'logged_off')),
    bytes_sent  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    state_since INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX sessions_state ON sessions(state);

-- One-time tickets: only a hash of the secret is stored.
CREATE TABLE tickets (
    id          INTEGER PRIMARY KEY,
    secret_hash TEXT    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pool_id     INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    protocol    TEXT    NOT NULL CHECK (protocol IN ('rdp', 'vnc')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    ts        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    user_name TEXT,
    pool_name TEXT,
    outcome   TEXT    NOT NULL CHECK (outcome IN ('ok', 'refused', 'denied', 'failed')),
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ts ON audit_log(ts);
