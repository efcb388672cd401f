/* admin_api: routes and handlers of the admin API (see docs/admin-api.md). */
#include "config.h"

#include "broker/admin_api.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/auth.h"
#include "broker/conf.h"
#include "broker/pool.h"
#include "broker/session.h"
#include "db/db.h"
#include "vmm/snapshot.h"


struct admin_api {
    struct db *db;
    const struct conf *cfg;
    gint64 started;
    admin_status_fn status_fn;
    void *status_data;
    struct pool_mgr *mgr; /* borrowed, may be NULL */
    struct session_mgr *sessions; /* borrowed, may be NULL */
};

struct admin_api *admin_api_new(struct db *db, const struct conf *cfg)
{
    struct admin_api *api = g_new0(struct admin_api, 1);

    api->db = db;
    api->cfg = cfg;
    api->started = g_get_monotonic_time();
    return api;
}

void admin_api_free(struct admin_api *api)
{
    g_free(api);
}

void admin_api_set_pool_mgr(struct admin_api *api, struct pool_mgr *mgr)
{
    api->mgr = mgr;
}

void admin_api_set_session_mgr(struct admin_api *api, struct session_mgr *sessions)
{
    api->sessions = sessions;
}

void admin_api_set_status_fn(struct admin_api *api, admin_status_fn fn, void *data)
{
    api->status_fn = fn;
    api->status_data = data;
}

/* ---- responses ---- */

static int status_for_errno(int code)
{
    switch (code) {
    case ENOENT:
        return 404;
    case EEXIST:
    case EBUSY:
    case EALREADY:
        return 409;
    case EINVAL:
        return 400;
    case EACCES:
    case EPERM:
        return 403;
    case EMSGSIZE:
        return 413;
    case EAGAIN:
    case ECANCELED:
        return 503;
    case ETIMEDOUT:
        return 504;
    default:
        return 500;
    }
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Internal Server Error";
    }
}

static char *builder_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, FALSE);
    return json_generator_to_data(gen, NULL);
}

char *admin_api_error_body(guint status, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "status");
    json_builder_add_int_value(b, status);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason_phrase(status));
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    json_builder_end_object(b);
    return builder_text(b);
}

static void respond_error(struct admin_response *resp, int status, const char *message)
{
    resp->status = status;
    resp->body = admin_api_error_body(status, message);
}

/* Answer with the error of a failed call (r < 0): the status follows its code. */
static void respond_gerror(struct admin_response *resp, const GError *err)
{
    respond_error(resp, status_for_errno(err ? err->code : EIO),
                  err ? err->message : "internal error");
}

static void respond_builder(struct admin_response *resp, int status, JsonBuilder *b)
{
    resp->status = status;
    resp->body = builder_text(b);
}

/* {"ok": true, "message": text} for changes. Caller frees. */
static char *ok_body(const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ok");
    json_builder_add_boolean_value(b, TRUE);
    json_builder_set_member_name(b, "message");
    json_builder_add_string_value(b, message);
    json_builder_end_object(b);
    return builder_text(b);
}

static void respond_ok(struct admin_response *resp, int status, const char *message)
{
    resp->status = status;
    resp->body = ok_body(message);
}

/* An answer that comes later, through req->reply. */
struct deferred {
    admin_reply_fn reply;
    gpointer data;
    char *message; /* for success */
};

static struct deferred *defer(const struct admin_request *req, struct admin_response *resp,
                              char *message)
{
    struct deferred *d = g_new0(struct deferred, 1);

    d->reply = req->reply;
    d->data = req->reply_data;
    d->message = message;
    resp->status = 0;
    return d;
}

/* Answer a deferred request: success (status), or the error of r (-errno)
 * with err's message. */
static void deferred_finish(struct deferred *d, int status, int r, const GError *err)
{
    if (r < 0)
        d->reply(status_for_errno(-r), admin_api_error_body(status_for_errno(-r), err ? err->message : g_strerror(-r)),
                 d->data);
    else
        d->reply(status, ok_body(d->message), d->data);
    g_free(d->message);
    g_free(d);
}

/* 503 when there is no pool manager (no libvirt side). */
static gboolean need_mgr(struct admin_api *api, const struct admin_request *req,
                         struct admin_response *resp)
{
    if (api->mgr && req->reply)
        return TRUE;
    respond_error(resp, 503, "VM operations are not available: aulad has no libvirt side");
    return FALSE;
}

static void add_str(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void add_bool(JsonBuilder *b, const char *name, gboolean value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

static void add_strv(JsonBuilder *b, const char *name, char **values)
{
    json_builder_set_member_name(b, name);
    json_builder_begin_array(b);
    for (char **v = values; v && *v; v++)
        json_builder_add_string_value(b, *v);
    json_builder_end_array(b);
}

/* ---- request bodies ---- */

/* Parse the body as a JSON object whose members are all in allowed.
 * On failure responds 400 and returns NULL. Caller unrefs the parser. */
static JsonObject *body_object(const struct admin_request *req, const char *const *allowed,
                               JsonParser **parserp, struct admin_response *resp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    g_autoptr(GList) members = NULL;
    JsonNode *root;
    JsonObject *obj;

    if (req->body == NULL || req->body_len == 0) {
        respond_error(resp, 400, "the request needs a JSON object body");
        return NULL;
    }
    if (req->body_len > ADMIN_API_BODY_MAX) {
        respond_error(resp, 413, "the request body is too large");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, req->body, (gssize)req->body_len, &err)) {
        g_autofree char *msg = g_strdup_printf("malformed JSON: %s", err->message);
        respond_error(resp, 400, msg);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        respond_error(resp, 400, "the request body must be a JSON object");
        return NULL;
    }
    obj = json_node_get_object(root);
    members = json_object_get_members(obj);
    for (GList *m = members; m; m = m->next) {
        if (!g_strv_contains(allowed, m->data)) {
            g_autofree char *msg = g_strdup_printf("unknown field '%s'", (const char *)m->data);
            respond_error(resp, 400, msg);
            return NULL;
        }
    }
    *parserp = g_steal_pointer(&parser);
    return obj;
}

/* Read a string member. Missing: *out untouched and TRUE unless required. */
static gboolean get_string(JsonObject *o, const char *name, gboolean required, const char **out,
                           struct admin_response *resp)
{
    JsonNode *n = json_object_get_member(o, name);
    g_autofree char *msg = NULL;

    if (n == NULL) {
        if (!required)
            return TRUE;
        msg = g_strdup_printf("missing field '%s'", name);
    } else if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        msg = g_strdup_printf("field '%s' must be a string", name);
    } else {
        *out = json_node_get_string(n);
        return TRUE;
    }
    respond_error(resp, 400, msg);
    return FALSE;
}

static gboolean get_int(JsonObject *o, const char *name, gboolean required, gint64 *out,
                        struct admin_response *resp)
{
    JsonNode *n = json_object_get_member(o, name);
    g_autofree char *msg = NULL;

    if (n == NULL) {
        if (!required)
            return TRUE;
        msg = g_strdup_printf("missing field '%s'", name);
    } else if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
        msg = g_strdup_printf("field '%s' must be a whole number", name);
    } else {
        *out = json_node_get_int(n);
        return TRUE;
    }
    respond_error(resp, 400, msg);
    return FALSE;
}

static gboolean get_bool(JsonObject *o, const char *name, gboolean *out, struct admin_response *resp)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n == NULL)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
        g_autofree char *msg = g_strdup_printf("field '%s' must be true or false", name);
        respond_error(resp, 400, msg);
        return FALSE;
    }
    *out = json_node_get_boolean(n);
    return TRUE;
}

/* ---- status ---- */

static void handle_status(struct admin_api *api, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *db_path = conf_db_path(api->cfg);
    struct db_counts c;

    if (db_counts(api->db, &c, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_object(b);
    add_str(b, "version", PACKAGE_VERSION);
    add_int(b, "pid", getpid());
    add_int(b, "uptime", (g_get_monotonic_time() - api->started) / G_USEC_PER_SEC);
    add_str(b, "state_dir", api->cfg->state_dir);
    add_str(b, "database", db_path);
    add_int(b, "schema_version", db_schema_version(api->db));
    add_str(b, "admin_socket", api->cfg->admin_socket);
    add_str(b, "admin_group", api->cfg->admin_group);
    add_str(b, "hypervisor", api->cfg->hypervisor);
    json_builder_set_member_name(b, "counts");
    json_builder_begin_object(b);
    add_int(b, "users", c.users);
    add_int(b, "groups", c.groups);
    add_int(b, "templates", c.templates);
    add_int(b, "pools", c.pools);
    add_int(b, "vms", c.vms);
    add_int(b, "active_sessions", c.active_sessions);
    json_builder_end_object(b);
    if (api->mgr)
        pool_mgr_status(api->mgr, b);
    if (api->status_fn)
        api->status_fn(b, api->status_data);
    json_builder_end_object(b);
    respond_builder(resp, 200, b);
}

/* ---- users ---- */

static void build_user(JsonBuilder *b, const struct db_user *u)
{
    json_builder_begin_object(b);
    add_str(b, "name", u->name);
    add_str(b, "full_name", u->full_name);
    add_bool(b, "disabled", u->disabled);
    add_strv(b, "groups", u->groups);
    add_strv(b, "pools", u->pools);
    add_int(b, "created_at", u->created_at);
    add_int(b, "password_changed_at", u->password_changed_at);
    json_builder_end_object(b);
}

static void handle_user_list(struct admin_api *api, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) users = NULL;
    g_autoptr(GError) err = NULL;

    if (db_user_list(api->db, &users, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < users->len; i++)
        build_user(b, g_ptr_array_index(users, i));
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_user_get(struct admin_api *api, const char *name, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    struct db_user *u = NULL;

    if (db_user_get(api->db, name, &u, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    build_user(b, u);
    db_user_free(u);
    respond_builder(resp, 200, b);
}

/* Hash a password from a request body; responds 400 on a bad one. Caller frees. */
static char *hash_from_request(const char *password, struct admin_response *resp)
{
    g_autoptr(GError) err = NULL;
    char *hash = NULL;

    if (auth_hash_password(password, &hash, &err) < 0) {
        respond_gerror(resp, err);
        return NULL;
    }
    return hash;
}

static void handle_user_add(struct admin_api *api, const struct admin_request *req,
                            struct admin_response *resp)
{
    static const char *const allowed[] = { "name", "password", "full_name", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *hash = NULL, *msg = NULL;
    const char *name = NULL, *password = NULL, *full_name = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "name", TRUE, &name, resp) ||
        !get_string(o, "password", TRUE, &password, resp) ||
        !get_string(o, "full_name", FALSE, &full_name, resp))
        return;
    if (!db_name_valid(name)) {
        msg = g_strdup_printf("invalid user name '%s': use %s", name, DB_NAME_RULE);
        respond_error(resp, 400, msg);
        return;
    }
    hash = hash_from_request(password, resp);
    if (hash == NULL)
        return;
    if (db_user_add(api->db, req->actor, name, full_name, hash, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s added user %s", req->actor, name);
    msg = g_strdup_printf("user '%s' added", name);
    respond_ok(resp, 201, msg);
}

static void handle_user_passwd(struct admin_api *api, const struct admin_request *req,
                               const char *name, struct admin_response *resp)
{
    static const char *const allowed[] = { "password", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *hash = NULL, *msg = NULL;
    const char *password = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "password", TRUE, &password, resp))
        return;
    hash = hash_from_request(password, resp);
    if (hash == NULL)
        return;
    if (db_user_set_password(api->db, req->actor, name, hash, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s changed the password of user %s", req->actor, name);
    msg = g_strdup_printf("password of user '%s' changed", name);
    respond_ok(resp, 200, msg);
}

/* The common shape of a removal: call rm, answer 200 or the error. */
static void respond_removal(struct admin_response *resp, int r, const GError *err,
                            const char *actor, const char *kind, const char *name)
{
    g_autofree char *msg = NULL;

    if (r < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s removed %s %s", actor, kind, name);
    msg = g_strdup_printf("%s '%s' removed", kind, name);
    respond_ok(resp, 200, msg);
}

/* ---- groups ---- */

static void handle_group_list(struct admin_api *api, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) groups = NULL;
    g_autoptr(GError) err = NULL;

    if (db_group_list(api->db, &groups, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < groups->len; i++) {
        struct db_group *g = g_ptr_array_index(groups, i);
        json_builder_begin_object(b);
        add_str(b, "name", g->name);
        add_strv(b, "members", g->members);
        add_int(b, "created_at", g->created_at);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_group_add(struct admin_api *api, const struct admin_request *req,
                             struct admin_response *resp)
{
    static const char *const allowed[] = { "name", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    const char *name = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "name", TRUE, &name, resp))
        return;
    if (db_group_add(api->db, req->actor, name, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s added group %s", req->actor, name);
    msg = g_strdup_printf("group '%s' added", name);
    respond_ok(resp, 201, msg);
}

static void handle_group_adduser(struct admin_api *api, const struct admin_request *req,
                                 const char *group, struct admin_response *resp)
{
    static const char *const allowed[] = { "user", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    const char *user = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "user", TRUE, &user, resp))
        return;
    if (db_group_add_user(api->db, req->actor, group, user, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s added user %s to group %s", req->actor, user, group);
    msg = g_strdup_printf("user '%s' added to group '%s'", user, group);
    respond_ok(resp, 201, msg);
}

static void handle_group_deluser(struct admin_api *api, const struct admin_request *req,
                                 const char *group, const char *user, struct admin_response *resp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;

    if (db_group_remove_user(api->db, req->actor, group, user, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s removed user %s from group %s", req->actor, user, group);
    msg = g_strdup_printf("user '%s' removed from group '%s'", user, group);
    respond_ok(resp, 200, msg);
}

/* ---- templates ---- */

/* A template as JSON; with mgr, what libvirt says of its image too. */
static void build_template(JsonBuilder *b, const struct db_template *t, struct pool_mgr *mgr)
{
    json_builder_begin_object(b);
    add_str(b, "name", t->name);
    add_str(b, "disk", t->disk_path);
    add_int(b, "memory_mib", t->memory_mib);
    add_int(b, "vcpus", t->vcpus);
    add_str(b, "video", t->video);
    add_str(b, "firmware", t->firmware);
    add_str(b, "os", t->os);
    add_str(b, "volume", t->volume);
    add_str(b, "kernel_volume", t->kernel_volume);
    add_str(b, "initrd_volume", t->initrd_volume);
    add_str(b, "cmdline", t->cmdline);
    add_strv(b, "pools", t->pools);
    add_int(b, "created_at", t->created_at);
    if (mgr)
        pool_mgr_template_facts(mgr, t->volume, b);
    json_builder_end_object(b);
}

static void handle_template_list(struct admin_api *api, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) tmpls = NULL;
    g_autoptr(GError) err = NULL;

    if (db_template_list(api->db, &tmpls, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < tmpls->len; i++)
        build_template(b, g_ptr_array_index(tmpls, i), NULL);
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_template_get(struct admin_api *api, const char *name, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    struct db_template *t = NULL;

    if (db_template_get(api->db, name, &t, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    build_template(b, t, api->mgr);
    db_template_free(t);
    respond_builder(resp, 200, b);
}

/* Check that path is a readable file (a qcow2 image when qcow2), as aulad
 * (not the client) sees it. Responds 400 and returns FALSE if not. */
static gboolean check_file(const char *what, const char *path, gboolean qcow2,
                           struct admin_response *resp)
{
    static const unsigned char qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
    unsigned char magic[4] = { 0 };
    g_autofree char *msg = NULL;
    struct stat st;
    int fd;

    if (!g_path_is_absolute(path)) {
        msg = g_strdup_printf("%s '%s' must be an absolute path", what, path);
    } else if (stat(path, &st) < 0) {
        msg = g_strdup_printf("cannot use %s %s: %s", what, path, g_strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        msg = g_strdup_printf("cannot use %s %s: not a regular file", what, path);
    } else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        msg = g_strdup_printf("cannot read %s %s: %s", what, path, g_strerror(errno));
    } else {
        ssize_t n = read(fd, magic, sizeof(magic));
        close(fd);
        if (qcow2 && (n != (ssize_t)sizeof(magic) || memcmp(magic, qcow2_magic, sizeof(magic)) != 0))
            msg = g_strdup_printf("cannot use %s %s: not a qcow2 disk image", what, path);
        else if (n <= 0)
            msg = g_strdup_printf("cannot use %s %s: the file is empty", what, path);
    }
    if (msg == NULL)
        return TRUE;
    respond_error(resp, 400, msg);
    return FALSE;
}

static void on_template_added(int r, const GError *err, gpointer data)
{
    deferred_finish(data, 201, r, err);
}

/* Validate, then import the disk (and kernel, initrd) through libvirt in a
 * worker; the answer comes when the import is done. */
static void handle_template_add(struct admin_api *api, const struct admin_request *req,
                                struct admin_response *resp)
{
    static const char *const allowed[] = { "name", "disk", "memory_mib", "vcpus", "video",
                                           "firmware", "os", "kernel", "initrd", "cmdline", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    struct db_template t = { .memory_mib = 2048, .vcpus = 2 };
    const char *name = NULL, *disk = NULL, *video = "virtio", *firmware = "bios", *os = "linux";
    const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "name", TRUE, &name, resp) ||
        !get_string(o, "disk", TRUE, &disk, resp) ||
        !get_int(o, "memory_mib", FALSE, &t.memory_mib, resp) ||
        !get_int(o, "vcpus", FALSE, &t.vcpus, resp) ||
        !get_string(o, "video", FALSE, &video, resp) ||
        !get_string(o, "firmware", FALSE, &firmware, resp) || !get_string(o, "os", FALSE, &os, resp) ||
        !get_string(o, "kernel", FALSE, &kernel, resp) || !get_string(o, "initrd", FALSE, &initrd, resp) ||
        !get_string(o, "cmdline", FALSE, &cmdline, resp))
        return;
    if (!db_name_valid(name)) {
        msg = g_strdup_printf("invalid template name '%s': use %s", name, DB_NAME_RULE);
        respond_error(resp, 400, msg);
        return;
    }
    if ((initrd || cmdline) && kernel == NULL) {
        respond_error(resp, 400, "an initrd or a kernel command line needs a kernel");
        return;
    }
    if (!check_file("disk", disk, TRUE, resp) || (kernel && !check_file("kernel", kernel, FALSE, resp)) ||
        (initrd && !check_file("initrd", initrd, FALSE, resp)))
        return;
    t.name = (char *)name;
    t.disk_path = (char *)disk;
    t.video = (char *)video;
    t.firmware = (char *)firmware;
    t.os = (char *)os;
    t.kernel_volume = (char *)kernel; /* the source paths, until imported */
    t.initrd_volume = (char *)initrd;
    t.cmdline = (char *)cmdline;
    if (db_template_check(api->db, &t, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    if (!need_mgr(api, req, resp))
        return;
    g_message("%s: importing template %s from %s", req->actor, name, disk);
    pool_mgr_template_add(api->mgr, req->actor, &t, on_template_added,
                          defer(req, resp, g_strdup_printf("template '%s' added", name)));
}

/* ---- pools ---- */

static void build_vm(JsonBuilder *b, const struct db_vm *vm, struct pool_mgr *mgr);

/* A pool as JSON; with api, its VMs and why it is held back too. */
static void build_pool(JsonBuilder *b, const struct db_pool *p, struct admin_api *api)
{
    json_builder_begin_object(b);
    add_str(b, "name", p->name);
    add_str(b, "template", p->template_name);
    add_int(b, "min", p->min_size);
    add_int(b, "max", p->max_size);
    add_int(b, "spare", p->spare);
    add_bool(b, "persistent", p->persistent);
    add_str(b, "clone", p->clone);
    add_str(b, "protocols", p->protocols);
    add_int(b, "disconnect_timeout", p->disconnect_timeout);
    add_int(b, "idle_timeout", p->idle_timeout);
    add_str(b, "network", p->network);
    add_int(b, "vlan", p->vlan);
    add_int(b, "active_sessions", p->active_sessions);
    add_strv(b, "entitled_users", p->entitled_users);
    add_strv(b, "entitled_groups", p->entitled_groups);
    add_int(b, "created_at", p->created_at);
    if (api) {
        g_autoptr(GPtrArray) vms = NULL;
        if (db_vm_list(api->db, p->name, NULL, &vms, NULL) == 0) {
            json_builder_set_member_name(b, "vms");
            json_builder_begin_array(b);
            for (guint i = 0; i < vms->len; i++)
                build_vm(b, g_ptr_array_index(vms, i), NULL);
            json_builder_end_array(b);
        }
        add_str(b, "note", api->mgr ? pool_mgr_pool_note(api->mgr, p->name) : NULL);
    }
    json_builder_end_object(b);
}

static void handle_pool_list(struct admin_api *api, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) pools = NULL;
    g_autoptr(GError) err = NULL;

    if (db_pool_list(api->db, &pools, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < pools->len; i++)
        build_pool(b, g_ptr_array_index(pools, i), NULL);
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_pool_get(struct admin_api *api, const char *name, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    struct db_pool *p = NULL;

    if (db_pool_get(api->db, name, &p, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    build_pool(b, p, api);
    db_pool_free(p);
    respond_builder(resp, 200, b);
}

/* Read the pool settings present in o over *p. Responds 400 and returns FALSE on a bad one. */
static gboolean read_pool_settings(JsonObject *o, struct db_pool *p, const char **protocols,
                                   struct admin_response *resp)
{
    return get_int(o, "min", FALSE, &p->min_size, resp) &&
           get_int(o, "max", FALSE, &p->max_size, resp) &&
           get_int(o, "spare", FALSE, &p->spare, resp) &&
           get_bool(o, "persistent", &p->persistent, resp) &&
           get_string(o, "protocols", FALSE, protocols, resp) &&
           get_int(o, "disconnect_timeout", FALSE, &p->disconnect_timeout, resp) &&
           get_int(o, "idle_timeout", FALSE, &p->idle_timeout, resp) &&
           get_int(o, "vlan", FALSE, &p->vlan, resp);
}

static void handle_pool_create(struct admin_api *api, const struct admin_request *req,
                               struct admin_response *resp)
{
    static const char *const allowed[] = { "name", "template", "min", "max", "spare", "persistent",
                                           "clone", "protocols", "disconnect_timeout",
                                           "idle_timeout", "network", "vlan", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    struct db_pool p = { .min_size = 0, .max_size = 10, .spare = 1, .disconnect_timeout = 300 };
    const char *name = NULL, *tmpl = NULL, *clone = "linked", *protocols = "rdp,vnc";
    const char *network = "network:default";
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "name", TRUE, &name, resp) ||
        !get_string(o, "template", TRUE, &tmpl, resp) ||
        !get_string(o, "clone", FALSE, &clone, resp) ||
        !get_string(o, "network", FALSE, &network, resp) || !read_pool_settings(o, &p, &protocols, resp))
        return;
    p.network = (char *)network;
    p.name = (char *)name;
    p.template_name = (char *)tmpl;
    p.clone = (char *)clone;
    p.protocols = (char *)protocols;
    if (db_pool_add(api->db, req->actor, &p, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s created pool %s from template %s", req->actor, name, tmpl);
    if (api->mgr)
        pool_mgr_kick(api->mgr);
    msg = g_strdup_printf("pool '%s' created", name);
    respond_ok(resp, 201, msg);
}

static void handle_pool_set(struct admin_api *api, const struct admin_request *req, const char *name,
                            struct admin_response *resp)
{
    static const char *const allowed[] = { "min", "max", "spare", "persistent", "protocols",
                                           "disconnect_timeout", "idle_timeout", "network", "vlan", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    struct db_pool *p = NULL;
    const char *protocols = NULL, *network = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "network", FALSE, &network, resp))
        return;
    if (json_object_get_size(o) == 0) {
        respond_error(resp, 400, "nothing to change");
        return;
    }
    if (db_pool_get(api->db, name, &p, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    if (read_pool_settings(o, p, &protocols, resp)) {
        if (protocols) {
            g_free(p->protocols);
            p->protocols = g_strdup(protocols);
        }
        if (network) {
            g_free(p->network);
            p->network = g_strdup(network);
            /* A new network without a tag clears the old one. */
            if (!json_object_has_member(o, "vlan"))
                p->vlan = 0;
        }
        if (db_pool_update(api->db, req->actor, name, p, &err) < 0) {
            respond_gerror(resp, err);
        } else {
            g_message("%s changed pool %s", req->actor, name);
            if (api->mgr)
                pool_mgr_kick(api->mgr);
            msg = g_strdup_printf("pool '%s' changed", name);
            respond_ok(resp, 200, msg);
        }
    }
    db_pool_free(p);
}

/* ---- entitlements ---- */

static void handle_entitlement_list(struct admin_api *api, const struct admin_request *req,
                                    struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) ents = NULL;
    g_autoptr(GError) err = NULL;
    const char *pool = req->query ? g_hash_table_lookup(req->query, "pool") : NULL;
    struct db_pool *p = NULL;

    /* An unknown pool is an error, not an empty list. */
    if (pool && db_pool_get(api->db, pool, &p, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    db_pool_free(p);
    if (db_entitlement_list(api->db, pool, &ents, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < ents->len; i++) {
        struct db_entitlement *e = g_ptr_array_index(ents, i);
        json_builder_begin_object(b);
        add_str(b, "pool", e->pool);
        add_str(b, "user", e->user);
        add_str(b, "group", e->group);
        add_int(b, "created_at", e->created_at);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_entitle(struct admin_api *api, const struct admin_request *req,
                           struct admin_response *resp)
{
    static const char *const allowed[] = { "pool", "user", "group", NULL };
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    const char *pool = NULL, *user = NULL, *group = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "pool", TRUE, &pool, resp) ||
        !get_string(o, "user", FALSE, &user, resp) || !get_string(o, "group", FALSE, &group, resp))
        return;
    if ((user == NULL) == (group == NULL)) {
        respond_error(resp, 400, "name exactly one of 'user' and 'group'");
        return;
    }
    if (db_entitle(api->db, req->actor, pool, user, group, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s entitled %s %s to pool %s", req->actor, user ? "user" : "group",
              user ? user : group, pool);
    msg = g_strdup_printf("%s '%s' entitled to pool '%s'", user ? "user" : "group",
                          user ? user : group, pool);
    respond_ok(resp, 201, msg);
}

static void handle_unentitle(struct admin_api *api, const struct admin_request *req,
                             const char *pool, const char *kind, const char *name,
                             struct admin_response *resp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    gboolean is_user = strcmp(kind, "user") == 0;

    if (!is_user && strcmp(kind, "group") != 0) {
        respond_error(resp, 404, "no such resource: entitlements are /v1/entitlements/POOL/user/NAME or .../group/NAME");
        return;
    }
    if (db_unentitle(api->db, req->actor, pool, is_user ? name : NULL, is_user ? NULL : name,
                     &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    g_message("%s removed the entitlement of %s %s to pool %s", req->actor, kind, name, pool);
    msg = g_strdup_printf("%s '%s' no longer entitled to pool '%s'", kind, name, pool);
    respond_ok(resp, 200, msg);
}

/* ---- sessions and audit ---- */

static void handle_session_list(struct admin_api *api, const struct admin_request *req,
                                struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GError) err = NULL;
    const char *all = req->query ? g_hash_table_lookup(req->query, "all") : NULL;

    if (db_session_list(api->db, !(all && strcmp(all, "1") == 0), &list, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < list->len; i++) {
        struct db_session *s = g_ptr_array_index(list, i);
        json_builder_begin_object(b);
        add_int(b, "id", s->id);
        add_str(b, "user", s->user);
        add_str(b, "pool", s->pool);
        add_str(b, "vm", s->vm);
        add_str(b, "protocol", s->protocol);
        add_str(b, "client", s->client_addr);
        add_str(b, "encoding", s->encoding);
        add_str(b, "state", s->state);
        add_int(b, "bytes_sent", s->bytes_sent);
        add_int(b, "fps", s->fps);
        add_int(b, "created_at", s->created_at);
        add_int(b, "state_since", s->state_since);
        add_int(b, "connected_at", s->connected_at);
        add_str(b, "reason", s->end_reason);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_session_action(struct admin_api *api, const struct admin_request *req,
                                  const char *id_text, const char *action, struct admin_response *resp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    guint64 id = 0;
    int r;

    if (!g_ascii_string_to_unsigned(id_text, 10, 1, G_MAXINT64, &id, NULL)) {
        msg = g_strdup_printf("'%s' is not a session id (a positive number)", id_text);
        respond_error(resp, 400, msg);
        return;
    }
    if (api->sessions == NULL) {
        respond_error(resp, 503, "sessions are not served");
        return;
    }
    if (strcmp(action, "disconnect") == 0)
        r = session_mgr_disconnect(api->sessions, req->actor, (int64_t)id, &err);
    else
        r = session_mgr_logoff(api->sessions, req->actor, (int64_t)id, &err);
    if (r < 0) {
        respond_gerror(resp, err);
        return;
    }
    msg = g_strdup_printf("session %" G_GUINT64_FORMAT ": %s", id,
                          strcmp(action, "disconnect") == 0 ? "disconnected" : "logged off");
    respond_ok(resp, 200, msg);
}

/* Read an optional non-negative integer query parameter; 400 if malformed. */
static gboolean query_int(const struct admin_request *req, const char *name, gint64 *out,
                          struct admin_response *resp)
{
    const char *v = req->query ? g_hash_table_lookup(req->query, name) : NULL;
    guint64 n = 0;

    if (v == NULL)
        return TRUE;
    if (!g_ascii_string_to_unsigned(v, 10, 0, G_MAXINT64, &n, NULL)) {
        g_autofree char *msg = g_strdup_printf("query parameter '%s' must be a whole number", name);
        respond_error(resp, 400, msg);
        return FALSE;
    }
    *out = (gint64)n;
    return TRUE;
}

static void handle_audit(struct admin_api *api, const struct admin_request *req,
                         struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) list = NULL;
    g_autoptr(GError) err = NULL;
    struct db_audit_filter f = { 0 };

    if (!query_int(req, "since", &f.since, resp) || !query_int(req, "limit", &f.limit, resp))
        return;
    if (req->query) {
        f.user = g_hash_table_lookup(req->query, "user");
        f.pool = g_hash_table_lookup(req->query, "pool");
    }
    if (db_audit_list(api->db, &f, &list, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < list->len; i++) {
        struct db_audit *e = g_ptr_array_index(list, i);
        json_builder_begin_object(b);
        add_int(b, "id", e->id);
        add_int(b, "ts", e->ts);
        add_str(b, "actor", e->actor);
        add_str(b, "action", e->action);
        add_str(b, "target", e->target);
        add_str(b, "user", e->user);
        add_str(b, "pool", e->pool);
        add_str(b, "outcome", e->outcome);
        add_str(b, "detail", e->detail);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

/* ---- VMs ---- */

/* A VM as JSON; with mgr, live facts from libvirt too. */
static void build_vm(JsonBuilder *b, const struct db_vm *vm, struct pool_mgr *mgr)
{
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;

    json_builder_begin_object(b);
    add_str(b, "name", vm->name);
    add_str(b, "pool", vm->pool);
    add_str(b, "host", vm->host);
    add_str(b, "state", vm->state);
    add_str(b, "owner", vm->owner);
    add_str(b, "error", vm->error);
    add_str(b, "uuid", vm->uuid);
    add_str(b, "mac", vm->mac);
    add_str(b, "disk", vm->overlay_path);
    add_int(b, "uptime", vm->started_at > 0 ? now - vm->started_at : 0);
    add_int(b, "state_since", vm->state_since);
    add_int(b, "attempts", vm->attempts);
    add_int(b, "retry_at", vm->retry_at);
    add_int(b, "created_at", vm->created_at);
    if (mgr)
        pool_mgr_vm_facts(mgr, vm, b);
    json_builder_end_object(b);
}

static void handle_vm_list(struct admin_api *api, const struct admin_request *req,
                           struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) vms = NULL;
    g_autoptr(GError) err = NULL;
    const char *pool = req->query ? g_hash_table_lookup(req->query, "pool") : NULL;
    const char *state = req->query ? g_hash_table_lookup(req->query, "state") : NULL;
    struct db_pool *p = NULL;

    if (pool && db_pool_get(api->db, pool, &p, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    db_pool_free(p);
    if (db_vm_list(api->db, pool, state, &vms, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < vms->len; i++)
        build_vm(b, g_ptr_array_index(vms, i), NULL);
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

static void handle_vm_get(struct admin_api *api, const char *name, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    struct db_vm *vm = NULL;

    if (db_vm_get(api->db, name, &vm, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    build_vm(b, vm, api->mgr);
    db_vm_free(vm);
    respond_builder(resp, 200, b);
}

static void handle_vm_action(struct admin_api *api, const struct admin_request *req, const char *name,
                             const char *action, struct admin_response *resp)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *msg = NULL;
    int r;

    if (!need_mgr(api, req, resp))
        return;
    if (strcmp(action, "release") == 0)
        r = pool_mgr_release(api->mgr, req->actor, name, &err);
    else
        r = pool_mgr_vm_action(api->mgr, req->actor, name, action, &err);
    if (r < 0) {
        respond_gerror(resp, err);
        return;
    }
    msg = g_strdup_printf("%s of VM %s started", action, name);
    respond_ok(resp, 202, msg);
}

static void on_vm_job_done(int r, const GError *err, gpointer data)
{
    deferred_finish(data, 200, r, err);
}

static void handle_snapshot_list(struct admin_api *api, const struct admin_request *req,
                                 const char *vm, struct admin_response *resp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GPtrArray) snaps = NULL;
    g_autoptr(GError) err = NULL;

    if (!need_mgr(api, req, resp))
        return;
    if (pool_mgr_vm_snapshots(api->mgr, vm, &snaps, &err) < 0) {
        respond_gerror(resp, err);
        return;
    }
    json_builder_begin_array(b);
    for (guint i = 0; i < snaps->len; i++) {
        struct vmm_snapshot *s = g_ptr_array_index(snaps, i);
        json_builder_begin_object(b);
        add_str(b, "name", s->name);
        add_int(b, "created_at", s->created);
        add_str(b, "state", s->state);
        add_bool(b, "current", s->current);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    respond_builder(resp, 200, b);
}

/* create (name from the body), revert or delete (name from the path). */
static void handle_snapshot_op(struct admin_api *api, const struct admin_request *req, const char *vm,
                               const char *action, const char *name, struct admin_response *resp)
{
    static const char *const allowed[] = { "name", NULL };
    g_autoptr(JsonParser) parser = NULL;

    if (name == NULL) {
        JsonObject *o = body_object(req, allowed, &parser, resp);
        if (o == NULL || !get_string(o, "name", TRUE, &name, resp))
            return;
    }
    if (!need_mgr(api, req, resp))
        return;
    pool_mgr_vm_snapshot(api->mgr, req->actor, vm, action, name, on_vm_job_done,
                         defer(req, resp, g_strdup_printf("snapshot '%s' of VM %s: %s done", name, vm,
                                                          action)));
}

static void handle_backup(struct admin_api *api, const struct admin_request *req, const char *vm,
                          struct admin_response *resp)
{
    static const char *const allowed[] = { "dest", NULL };
    g_autoptr(JsonParser) parser = NULL;
    const char *dest = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);

    if (o == NULL || !get_string(o, "dest", TRUE, &dest, resp) || !need_mgr(api, req, resp))
        return;
    if (!g_path_is_absolute(dest)) {
        respond_error(resp, 400, "the backup's destination must be an absolute path");
        return;
    }
    pool_mgr_vm_backup(api->mgr, req->actor, vm, dest, on_vm_job_done,
                       defer(req, resp, g_strdup_printf("VM %s backed up to %s", vm, dest)));
}

struct alloc_ctx {
    admin_reply_fn reply;
    gpointer data;
    char *user;
};

static void on_allocated(int r, const GError *err, const char *vm, gpointer data)
{
    struct alloc_ctx *c = data;

    if (r < 0) {
        c->reply(status_for_errno(-r), admin_api_error_body(status_for_errno(-r), err ? err->message : g_strerror(-r)),
                 c->data);
    } else {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *msg = g_strdup_printf("VM %s allocated to %s", vm, c->user);
        json_builder_begin_object(b);
        add_bool(b, "ok", TRUE);
        add_str(b, "message", msg);
        add_str(b, "vm", vm);
        json_builder_end_object(b);
        c->reply(200, builder_text(b), c->data);
    }
    g_free(c->user);
    g_free(c);
}

/* Give a user a desktop of the pool, as a login will: answers when it is ready. */
static void handle_allocate(struct admin_api *api, const struct admin_request *req, const char *pool,
                            struct admin_response *resp)
{
    static const char *const allowed[] = { "user", NULL };
    g_autoptr(JsonParser) parser = NULL;
    const char *user = NULL;
    JsonObject *o = body_object(req, allowed, &parser, resp);
    struct alloc_ctx *c;

    if (o == NULL || !get_string(o, "user", TRUE, &user, resp) || !need_mgr(api, req, resp))
        return;
    c = g_new0(struct alloc_ctx, 1);
    c->reply = req->reply;
    c->data = req->reply_data;
    c->user = g_strdup(user);
    resp->status = 0;
    pool_mgr_allocate(api->mgr, req->actor, user, pool, on_allocated, c);
}

/* ---- routing ---- */

static gboolean is(const struct admin_request *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

/* Route a request whose path has been split into segments after "/v1/". */
static void route(struct admin_api *api, const struct admin_request *req, char **seg, guint n,
                  struct admin_response *resp)
{
    const char *allow = NULL; /* set when the path exists, for a 405 */
    g_autoptr(GError) err = NULL;
    const char *what = seg[0];
    int r;

#define ON(method, ...)          \
    if (is(req, method)) {       \
        __VA_ARGS__;             \
        return;                  \
    }
    if (n == 1 && strcmp(what, "status") == 0) {
        allow = "GET";
        ON("GET", handle_status(api, resp));
    } else if (strcmp(what, "users") == 0 && n == 1) {
        allow = "GET, POST";
        ON("GET", handle_user_list(api, resp));
        ON("POST", handle_user_add(api, req, resp));
    } else if (strcmp(what, "users") == 0 && n == 2) {
        allow = "GET, DELETE";
        ON("GET", handle_user_get(api, seg[1], resp));
        ON("DELETE", r = db_user_remove(api->db, req->actor, seg[1], &err);
           respond_removal(resp, r, err, req->actor, "user", seg[1]));
    } else if (strcmp(what, "users") == 0 && n == 3 && strcmp(seg[2], "password") == 0) {
        allow = "PUT";
        ON("PUT", handle_user_passwd(api, req, seg[1], resp));
    } else if (strcmp(what, "groups") == 0 && n == 1) {
        allow = "GET, POST";
        ON("GET", handle_group_list(api, resp));
        ON("POST", handle_group_add(api, req, resp));
    } else if (strcmp(what, "groups") == 0 && n == 2) {
        allow = "DELETE";
        ON("DELETE", r = db_group_remove(api->db, req->actor, seg[1], &err);
           respond_removal(resp, r, err, req->actor, "group", seg[1]));
    } else if (strcmp(what, "groups") == 0 && n == 3 && strcmp(seg[2], "members") == 0) {
        allow = "POST";
        ON("POST", handle_group_adduser(api, req, seg[1], resp));
    } else if (strcmp(what, "groups") == 0 && n == 4 && strcmp(seg[2], "members") == 0) {
        allow = "DELETE";
        ON("DELETE", handle_group_deluser(api, req, seg[1], seg[3], resp));
    } else if (strcmp(what, "templates") == 0 && n == 1) {
        allow = "GET, POST";
        ON("GET", handle_template_list(api, resp));
        ON("POST", handle_template_add(api, req, resp));
    } else if (strcmp(what, "templates") == 0 && n == 2) {
        allow = "GET, DELETE";
        ON("GET", handle_template_get(api, seg[1], resp));
        ON("DELETE", r = api->mgr ? pool_mgr_template_remove(api->mgr, req->actor, seg[1], &err)
                                  : db_template_remove(api->db, req->actor, seg[1], &err);
           respond_removal(resp, r, err, req->actor, "template", seg[1]));
    } else if (strcmp(what, "pools") == 0 && n == 1) {
        allow = "GET, POST";
        ON("GET", handle_pool_list(api, resp));
        ON("POST", handle_pool_create(api, req, resp));
    } else if (strcmp(what, "pools") == 0 && n == 2) {
        allow = "GET, PATCH, DELETE";
        ON("GET", handle_pool_get(api, seg[1], resp));
        ON("PATCH", handle_pool_set(api, req, seg[1], resp));
        ON("DELETE", r = db_pool_remove(api->db, req->actor, seg[1], &err);
           respond_removal(resp, r, err, req->actor, "pool", seg[1]));
    } else if (strcmp(what, "pools") == 0 && n == 3 && strcmp(seg[2], "allocate") == 0) {
        allow = "POST";
        ON("POST", handle_allocate(api, req, seg[1], resp));
    } else if (strcmp(what, "vms") == 0 && n == 1) {
        allow = "GET";
        ON("GET", handle_vm_list(api, req, resp));
    } else if (strcmp(what, "vms") == 0 && n == 2) {
        allow = "GET";
        ON("GET", handle_vm_get(api, seg[1], resp));
    } else if (strcmp(what, "vms") == 0 && n == 3 &&
               g_strv_contains((const char *const[]){ "start", "stop", "reboot", "reset", "destroy",
                                                       "release", NULL }, seg[2])) {
        allow = "POST";
        ON("POST", handle_vm_action(api, req, seg[1], seg[2], resp));
    } else if (strcmp(what, "vms") == 0 && n == 3 && strcmp(seg[2], "snapshots") == 0) {
        allow = "GET, POST";
        ON("GET", handle_snapshot_list(api, req, seg[1], resp));
        ON("POST", handle_snapshot_op(api, req, seg[1], "create", NULL, resp));
    } else if (strcmp(what, "vms") == 0 && n == 4 && strcmp(seg[2], "snapshots") == 0) {
        allow = "DELETE";
        ON("DELETE", handle_snapshot_op(api, req, seg[1], "delete", seg[3], resp));
    } else if (strcmp(what, "vms") == 0 && n == 5 && strcmp(seg[2], "snapshots") == 0 &&
               strcmp(seg[4], "revert") == 0) {
        allow = "POST";
        ON("POST", handle_snapshot_op(api, req, seg[1], "revert", seg[3], resp));
    } else if (strcmp(what, "vms") == 0 && n == 3 && strcmp(seg[2], "backup") == 0) {
        allow = "POST";
        ON("POST", handle_backup(api, req, seg[1], resp));
    } else if (strcmp(what, "entitlements") == 0 && n == 1) {
        allow = "GET, POST";
        ON("GET", handle_entitlement_list(api, req, resp));
        ON("POST", handle_entitle(api, req, resp));
    } else if (strcmp(what, "entitlements") == 0 && n == 4) {
        allow = "DELETE";
        ON("DELETE", handle_unentitle(api, req, seg[1], seg[2], seg[3], resp));
    } else if (strcmp(what, "sessions") == 0 && n == 1) {
        allow = "GET";
        ON("GET", handle_session_list(api, req, resp));
    } else if (strcmp(what, "sessions") == 0 && n == 3 &&
               (strcmp(seg[2], "disconnect") == 0 || strcmp(seg[2], "logoff") == 0)) {
        allow = "POST";
        ON("POST", handle_session_action(api, req, seg[1], seg[2], resp));
    } else if (strcmp(what, "audit") == 0 && n == 1) {
        allow = "GET";
        ON("GET", handle_audit(api, req, resp));
    }
#undef ON
    if (allow) {
        resp->allow = allow;
        g_autofree char *msg = g_strdup_printf("method %s is not allowed here (allowed: %s)",
                                               req->method, allow);
        respond_error(resp, 405, msg);
    } else {
        g_autofree char *msg = g_strdup_printf("no such resource: %s", req->path);
        respond_error(resp, 404, msg);
    }
}

void admin_api_handle(struct admin_api *api, const struct admin_request *req,
                      struct admin_response *resp)
{
    g_auto(GStrv) seg = NULL;
    guint n;

    resp->body = NULL;
    resp->allow = NULL;
    if (!req->authorized) {
        respond_error(resp, 403, "permission denied: the admin API is for root and members of admin_group");
        return;
    }
    if (req->path == NULL || !g_str_has_prefix(req->path, "/v1/")) {
        respond_error(resp, 404, "no such resource (the admin API lives under /v1/)");
        return;
    }
    /* Path segments, percent-decoded; an empty one ("//", a trailing "/") or one
     * that decodes to a '/' matches no route. */
    seg = g_strsplit(req->path + strlen("/v1/"), "/", 8);
    n = g_strv_length(seg);
    if (n == 0) { /* "/v1/" itself: g_strsplit("") gives no segment at all */
        respond_error(resp, 404, "no such resource: /v1/");
        return;
    }
    for (guint i = 0; i < n; i++) {
        char *plain = g_uri_unescape_string(seg[i], "/");
        if (plain == NULL || plain[0] == '\0') {
            g_autofree char *msg = g_strdup_printf("no such resource: %s", req->path);
            g_free(plain);
            respond_error(resp, 404, msg);
            return;
        }
        g_free(seg[i]);
        seg[i] = plain;
    }
    route(api, req, seg, n, resp);
}
