/* db: aula's SQLite database, the broker's single source of truth.
 *
 * All SQL lives in db/. Every function that changes state runs in one
 * transaction and writes its audit row in that same transaction, so a change
 * and its audit record land together or not at all. Functions return 0 or a
 * negative errno and, on failure, set a GError in DB_ERROR whose code is the
 * positive errno:
 *   ENOENT  a named object does not exist
 *   EEXIST  the name is taken, or the relation already exists
 *   EBUSY   the object is in use (a pool uses the template, a session is active)
 *   EINVAL  a value is out of range or malformed
 *   EPROTO  the database is newer than this binary
 *   EIO     SQLite failed
 * Returned objects are owned by the caller and freed with the matching _free.
 */
#ifndef AULA_DB_H
#define AULA_DB_H

#include <glib.h>
#include <stdint.h>

#define DB_ERROR (db_error_quark())
GQuark db_error_quark(void);

struct db;

/* Open (creating if needed) the database at path and migrate it to the latest
 * schema. A database newer than this binary is refused (EPROTO). */
int db_open(const char *path, struct db **dbp, GError **error);
void db_close(struct db *db);

/* The schema version of the open database, and the newest this binary knows. */
int db_schema_version(struct db *db);
int db_latest_schema_version(void);

/* Name rules, shared by every kind of object so the CLI and the API agree. */
gboolean db_name_valid(const char *name);
/* "network:NAME", "bridge:DEVICE" or "none" (no network card). */
gboolean db_network_valid(const char *network);
#define DB_NAME_RULE "1 to 32 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"

/* Hosts */
struct db_host {
    int64_t id;
    char *name;
    char *libvirt_uri;
    int64_t memory_budget_mib;
};
void db_host_free(struct db_host *host);
/* Create or update the host called name (used at start-up for the local host). */
int db_host_ensure(struct db *db, const char *actor, const char *name, const char *libvirt_uri,
                   GError **error);
/* Caller frees the array (elements are freed with it). */
int db_host_list(struct db *db, GPtrArray **hostsp, GError **error);

/* Users */
struct db_user {
    int64_t id;
    char *name;
    char *full_name;
    char *password_hash;
    gboolean disabled;
    int64_t created_at;
    int64_t password_changed_at;
    char **groups;  /* NULL-terminated, sorted */
    char **pools;   /* pools the user is entitled to, directly or through a group */
};
void db_user_free(struct db_user *user);
int db_user_add(struct db *db, const char *actor, const char *name, const char *full_name,
                const char *password_hash, GError **error);
int db_user_set_password(struct db *db, const char *actor, const char *name,
                         const char *password_hash, GError **error);
/* Refused (EBUSY) while the user has an active session. */
int db_user_remove(struct db *db, const char *actor, const char *name, GError **error);
int db_user_get(struct db *db, const char *name, struct db_user **userp, GError **error);
int db_user_list(struct db *db, GPtrArray **usersp, GError **error);

/* Groups */
struct db_group {
    int64_t id;
    char *name;
    int64_t created_at;
    char **members; /* NULL-terminated, sorted */
};
void db_group_free(struct db_group *group);
int db_group_add(struct db *db, const char *actor, const char *name, GError **error);
int db_group_remove(struct db *db, const char *actor, const char *name, GError **error);
int db_group_add_user(struct db *db, const char *actor, const char *group, const char *user,
                      GError **error);
int db_group_remove_user(struct db *db, const char *actor, const char *group, const char *user,
                         GError **error);
int db_group_list(struct db *db, GPtrArray **groupsp, GError **error);

/* Templates */
struct db_template {
    int64_t id;
    char *name;
    char *disk_path;
    int64_t memory_mib;
    int64_t vcpus;
    char *video;    /* virtio | qxl | vga */
    char *firmware; /* bios | uefi */
    char *os;       /* linux | windows */
    char *volume;   /* the imported disk in aula's storage pool */
    char *kernel_volume; /* direct kernel boot: imported kernel, or "" */
    char *initrd_volume; /* and initrd, or "" */
    char *cmdline;       /* kernel command line, or "" */
    int64_t created_at;
    char **pools;   /* pools built on this template */
};
void db_template_free(struct db_template *tmpl);
/* tmpl->name .. tmpl->cmdline are read (NULL volumes read as ""); id,
 * created_at and pools are ignored. */
int db_template_add(struct db *db, const char *actor, const struct db_template *tmpl,
                    GError **error);
/* The checks of db_template_add without adding: run before a long import. */
int db_template_check(struct db *db, const struct db_template *tmpl, GError **error);
/* Refused (EBUSY) while a pool uses the template. */
int db_template_remove(struct db *db, const char *actor, const char *name, GError **error);
int db_template_get(struct db *db, const char *name, struct db_template **tmplp, GError **error);
int db_template_list(struct db *db, GPtrArray **tmplsp, GError **error);

/* Pools */
struct db_pool {
    int64_t id;
    char *name;
    char *template_name;
    int64_t min_size;
    int64_t max_size;
    int64_t spare;
    gboolean persistent;
    char *clone;     /* linked | full */
    char *protocols; /* comma-separated subset of "rdp,vnc" */
    int64_t disconnect_timeout; /* seconds */
    int64_t idle_timeout;       /* seconds, 0 = never */
    char *network;   /* network:NAME or bridge:DEV */
    int64_t vlan;    /* 802.1Q tag on a bridge, 0: none */
    int64_t created_at;
    int64_t active_sessions;
    char **entitled_users;
    char **entitled_groups;
};
void db_pool_free(struct db_pool *pool);
/* Checks the sizes (min <= max, spare <= max), the protocols and the template. */
int db_pool_add(struct db *db, const char *actor, const struct db_pool *pool, GError **error);
/* Replace the pool's settings with *pool (name and template name are ignored),
 * after the same checks as db_pool_add. Callers read, modify and write back. */
int db_pool_update(struct db *db, const char *actor, const char *name, const struct db_pool *pool,
                   GError **error);
/* Refused (EBUSY) while the pool has an active session or VMs. */
int db_pool_remove(struct db *db, const char *actor, const char *name, GError **error);
int db_pool_get(struct db *db, const char *name, struct db_pool **poolp, GError **error);
int db_pool_list(struct db *db, GPtrArray **poolsp, GError **error);
/* Validate a protocol list ("rdp", "vnc", "rdp,vnc"); returns the canonical form or NULL. */
char *db_protocols_normalize(const char *protocols);

/* Entitlements: exactly one of user and group is non-NULL. */
struct db_entitlement {
    int64_t id;
    char *pool;
    char *user;  /* or NULL */
    char *group; /* or NULL */
    int64_t created_at;
};
void db_entitlement_free(struct db_entitlement *ent);
int db_entitle(struct db *db, const char *actor, const char *pool, const char *user,
               const char *group, GError **error);
int db_unentitle(struct db *db, const char *actor, const char *pool, const char *user,
                 const char *group, GError **error);
/* pool may be NULL for all pools. */
int db_entitlement_list(struct db *db, const char *pool, GPtrArray **entsp, GError **error);

/* Sessions (db/session.c). One row per desktop a user is given:
 *   waiting_for_vm -> connected <-> disconnected -> logged_off
 * A disconnected session keeps its VM for the pool's disconnect_timeout, and
 * the same user's next connection to the pool (any protocol) resumes it. */
struct db_session {
    int64_t id;
    char *user;
    char *pool;
    char *vm;  /* or NULL */
    char *protocol;
    char *client_addr;
    char *encoding;
    char *state;
    char *end_reason;
    int64_t bytes_sent;
    int64_t fps;
    int64_t created_at;
    int64_t state_since;
    int64_t connected_at; /* 0: never connected */
};
void db_session_free(struct db_session *session);
/* active_only: leave out logged-off sessions. */
int db_session_list(struct db *db, gboolean active_only, GPtrArray **sessionsp, GError **error);
int db_session_get(struct db *db, int64_t id, struct db_session **sessionp, GError **error);
/* A new session of user in pool, in state waiting_for_vm (audited). */
int db_session_create(struct db *db, const char *actor, const char *user, const char *pool,
                      const char *protocol, const char *client_addr, int64_t *idp, GError **error);
/* The user's disconnected session in pool, to resume; ENOENT if none. */
int db_session_find_resumable(struct db *db, const char *user, const char *pool, int64_t *idp,
                              GError **error);
/* Move a session to state `to` if it is in one of `from` (NULL: any state but
 * logged_off), with reason recorded as end_reason (for disconnected and
 * logged_off) and an audit row; EBUSY if it is in another state. Entering
 * connected sets connected_at. */
int db_session_transition(struct db *db, const char *actor, int64_t id, const char *const *from,
                          const char *to, const char *reason, GError **error);
/* Record the session's VM, and the protocol and address of the client now
 * using it (a resumed session may come back over another protocol). */
int db_session_attach(struct db *db, int64_t id, const char *vm, const char *protocol,
                      const char *client_addr, GError **error);
/* Live figures the session process reports (not audited). */
int db_session_stats(struct db *db, int64_t id, const char *encoding, int64_t bytes_sent,
                     int64_t fps, GError **error);

/* Audit log */
struct db_audit {
    int64_t id;
    int64_t ts;
    char *actor;
    char *action;
    char *target;
    char *user; /* or NULL */
    char *pool; /* or NULL */
    char *outcome;
    char *detail;
};
void db_audit_free(struct db_audit *entry);
/* Record an event that is not itself a state change (a refused login, say). */
int db_audit_add(struct db *db, const char *actor, const char *action, const char *target,
                 const char *user, const char *pool, const char *outcome, const char *detail,
                 GError **error);
struct db_audit_filter {
    int64_t since;     /* 0: from the start */
    const char *user;  /* NULL: any */
    const char *pool;  /* NULL: any */
    int64_t limit;     /* 0: no limit; the newest entries are kept */
};
/* Oldest first. */
int db_audit_list(struct db *db, const struct db_audit_filter *filter, GPtrArray **entriesp,
                  GError **error);

/* VMs (db/vm.c). A VM row exists from the moment the reconciler decides to
 * make it (state provisioning) until its domain and disk are gone. States:
 *   provisioning -> ready (or stopped) -> starting -> ready -> assigned
 *   -> in_use -> recycling -> ready; deleted while its domain and disk are
 *   being removed; and error (with a reason and a retry time).
 * A VM with an owner belongs to that user (a persistent desktop, or a
 * session's VM); a ready VM without one is a spare. */
struct db_vm {
    int64_t id;
    char *name;        /* aula-<pool>-<seq> */
    char *pool;
    int64_t seq;
    char *host;
    char *uuid;
    char *mac;
    char *volume;      /* the VM's disk in aula's storage pool */
    char *overlay_path;
    char *state;
    char *owner;       /* user name, or NULL */
    char *error;       /* why the VM is in state error, or NULL */
    int64_t attempts;  /* failures in a row */
    int64_t retry_at;  /* when the reconciler may try again */
    int64_t state_since;
    int64_t started_at; /* 0 when not running */
    int64_t created_at;
};
void db_vm_free(struct db_vm *vm);

/* A new VM for pool on host, in state provisioning, named after the next free
 * seq number, with a fresh UUID and the given MAC. */
int db_vm_create(struct db *db, const char *actor, const char *pool, const char *host,
                 const char *mac, struct db_vm **vmp, GError **error);
int db_vm_get(struct db *db, const char *name, struct db_vm **vmp, GError **error);
/* pool and state may be NULL for all. Ordered by pool, then seq. */
int db_vm_list(struct db *db, const char *pool, const char *state, GPtrArray **vmsp,
               GError **error);
/* Move a VM to state `to` if it is in one of `from` (NULL: any), in one
 * transaction with an audit row; EBUSY if it is in another state. error_text
 * is recorded for state error (and cleared otherwise); entering error counts
 * an attempt and sets retry_at = now + retry_after; a running state (ready,
 * assigned, in_use) resets the count, so retries back off until one works.
 * Entering a running state (starting, ready, assigned, in_use) sets started_at
 * when it is unset; stopped and error clear it. */
int db_vm_transition(struct db *db, const char *actor, const char *name, const char *const *from,
                     const char *to, const char *error_text, int64_t retry_after, GError **error);
/* Record the VM's disk once it is made. */
int db_vm_set_disk(struct db *db, const char *name, const char *volume, const char *path,
                   GError **error);
/* Set (user) or clear (NULL) the owner. */
int db_vm_set_owner(struct db *db, const char *actor, const char *name, const char *user,
                    GError **error);
/* Forget a VM whose domain and disk are gone. */
int db_vm_delete(struct db *db, const char *actor, const char *name, GError **error);

/* Give user a desktop of pool, in one transaction, so that no two callers can
 * ever get the same VM: the user's own VM in the pool if there is one (a
 * persistent desktop, or the VM of a disconnected session); else a ready
 * spare, which becomes assigned to the user. *vmp is the VM, whatever its
 * state (the caller starts an owned VM that is stopped). Errors: EACCES the
 * user is not entitled to the pool (audited as refused), ENOENT unknown user or
 * pool, EAGAIN no ready spare right now. */
int db_vm_allocate(struct db *db, const char *actor, const char *user, const char *pool,
                   struct db_vm **vmp, GError **error);

/* Counts for the status page. */
struct db_counts {
    int64_t users, groups, templates, pools, vms, active_sessions;
};
int db_counts(struct db *db, struct db_counts *counts, GError **error);

#endif
