/* Unit tests for broker/admin_api (called directly, no transport) with a real
 * temporary database, and for broker/peer. Every response body must be JSON;
 * every error must be {"error": {"status", "reason", "message"}} with the
 * HTTP status; every refused request must leave the database as it was. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/admin_api.h"
#include "broker/auth.h"
#include "broker/conf.h"
#include "broker/peer.h"
#include "db/db.h"
#include "tests/unit/rawdb.h"

#define ACTOR "tester"
#define PASSWORD "s3cret pass phrase"

/* ---- log: count warnings and criticals, drop the API's chatter ---- */

static int log_warnings;

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                   gpointer data)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)) {
        log_warnings++;
        return g_log_writer_default(level, fields, n, data);
    }
    return G_LOG_WRITER_HANDLED;
}

/* ---- fixture ---- */

struct fx {
    char *dir;
    char *path;
    char *qcow2;     /* a file that starts like a qcow2 image */
    struct db *db;
    struct conf *cfg;
    struct admin_api *api;
    gboolean authorized;
    JsonNode *last;  /* the last response, parsed */
    char *last_text; /* the last response body */
};

static char *write_file(struct fx *f, const char *name, const char *data, gssize len)
{
    char *path = g_build_filename(f->dir, name, NULL);

    if (!g_file_set_contents(path, data, len, NULL))
        fail_msg("cannot write %s", path);
    return path;
}

static int setup(void **state)
{
    struct fx *f = g_new0(struct fx, 1);
    char image[512] = { 'Q', 'F', 'I', (char)0xfb, 0, 0, 0, 3 };
    GError *error = NULL;

    log_warnings = 0;
    *state = f;
    f->dir = g_dir_make_tmp("aula-test-api-XXXXXX", &error);
    if (f->dir == NULL) {
        print_error("g_dir_make_tmp: %s\n", error->message);
        g_error_free(error);
        return -1;
    }
    f->path = g_build_filename(f->dir, "aula.db", NULL);
    if (db_open(f->path, &f->db, &error) < 0) {
        print_error("db_open: %s\n", error->message);
        g_error_free(error);
        return -1;
    }
    f->qcow2 = g_build_filename(f->dir, "base.qcow2", NULL);
    if (!g_file_set_contents(f->qcow2, image, sizeof(image), &error)) {
        print_error("writing %s: %s\n", f->qcow2, error->message);
        g_error_free(error);
        return -1;
    }
    f->cfg = conf_new_defaults();
    f->api = admin_api_new(f->db, f->cfg);
    f->authorized = TRUE;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int warnings = log_warnings;

    if (f->last)
        json_node_unref(f->last);
    g_free(f->last_text);
    admin_api_free(f->api);
    conf_free(f->cfg);
    db_close(f->db);
    if (f->dir)
        rawdb_rm_rf(f->dir);
    g_free(f->qcow2);
    g_free(f->path);
    g_free(f->dir);
    g_free(f);
    if (warnings > 0) {
        print_error("%d unexpected warning(s) were logged\n", warnings);
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

/* Check the shape every response must have. */
static void check_body(guint status, JsonNode *root, const char *text)
{
    if (status >= 400) {
        JsonObject *o, *e;

        if (!JSON_NODE_HOLDS_OBJECT(root))
            fail_msg("error body is not an object: %s", text);
        o = json_node_get_object(root);
        assert_int_equal(json_object_get_size(o), 1);
        if (!json_object_has_member(o, "error") ||
            !JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, "error")))
            fail_msg("no error object: %s", text);
        e = json_object_get_object_member(o, "error");
        assert_int_equal(json_object_get_int_member(e, "status"), status);
        assert_true(strlen(json_object_get_string_member(e, "reason")) > 0);
        assert_true(strlen(json_object_get_string_member(e, "message")) > 0);
    } else {
        if (!JSON_NODE_HOLDS_OBJECT(root) && !JSON_NODE_HOLDS_ARRAY(root))
            fail_msg("body is neither an object nor an array: %s", text);
        if (JSON_NODE_HOLDS_OBJECT(root))
            assert_false(json_object_has_member(json_node_get_object(root), "error"));
    }
}

/* Send a request; path may carry a query ("?a=b&c=d"). body may be NULL.
 * Asserts the status and the body's shape; returns the parsed body (owned by f,
 * valid until the next request). */
static JsonNode *request_len(struct fx *f, const char *method, const char *path, const char *body,
                             gsize body_len, guint expected)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GHashTable) query = NULL;
    g_autofree char *route = g_strdup(path);
    g_autofree char *before = NULL, *after = NULL;
    struct admin_request req = {
        .method = method,
        .body = body,
        .body_len = body_len,
        .actor = ACTOR,
        .authorized = f->authorized,
    };
    struct admin_response resp = { .status = 0, .body = NULL };
    GError *error = NULL;
    char *q = strchr(route, '?');

    if (q != NULL) {
        *q = '\0';
        query = g_uri_parse_params(q + 1, -1, "&", G_URI_PARAMS_NONE, &error);
        if (query == NULL)
            fail_msg("bad query in test: %s", error->message);
    }
    req.path = route;
    req.query = query;

    /* A refused request, or any read, leaves the database as it was. */
    if (expected >= 400 || strcmp(method, "GET") == 0)
        before = rawdb_dump(f->path);
    admin_api_handle(f->api, &req, &resp);
    if (before != NULL) {
        after = rawdb_dump(f->path);
        if (strcmp(before, after) != 0)
            fail_msg("%s %s (status %u) changed the database", method, path, resp.status);
    }

    if (f->last)
        json_node_unref(f->last);
    f->last = NULL;
    g_free(f->last_text);
    f->last_text = resp.body;
    if (resp.body == NULL)
        fail_msg("%s %s: no body", method, path);
    if (!json_parser_load_from_data(parser, resp.body, -1, &error))
        fail_msg("%s %s: the body is not JSON (%s): %s", method, path, error->message, resp.body);
    f->last = json_node_ref(json_parser_get_root(parser));
    if (resp.status != expected)
        fail_msg("%s %s: status %u, expected %u: %s", method, path, resp.status, expected,
                 resp.body);
    check_body(resp.status, f->last, resp.body);
    return f->last;
}

static JsonNode *request(struct fx *f, const char *method, const char *path, const char *body,
                         guint expected)
{
    return request_len(f, method, path, body, body ? strlen(body) : 0, expected);
}

/* The message of the last (error) response. Borrowed. */
static const char *error_message(struct fx *f)
{
    JsonObject *e = json_object_get_object_member(json_node_get_object(f->last), "error");
    return json_object_get_string_member(e, "message");
}

#define assert_error_contains(f, text)                                                   \
    do {                                                                                 \
        if (strstr(error_message(f), (text)) == NULL)                                    \
            fail_msg("error message '%s' does not contain '%s'", error_message(f), (text)); \
    } while (0)

static JsonObject *object(JsonNode *n)
{
    assert_true(JSON_NODE_HOLDS_OBJECT(n));
    return json_node_get_object(n);
}

static JsonArray *array(JsonNode *n)
{
    assert_true(JSON_NODE_HOLDS_ARRAY(n));
    return json_node_get_array(n);
}

/* The strings of a JSON array member, comma-joined. Caller frees. */
static char *strings(JsonObject *o, const char *member)
{
    JsonArray *a = json_object_get_array_member(o, member);
    GString *s = g_string_new(NULL);

    assert_non_null(a);
    for (guint i = 0; i < json_array_get_length(a); i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", json_array_get_string_element(a, i));
    return g_string_free(s, FALSE);
}

#define assert_strings(o, member, expected)           \
    do {                                              \
        char *s_ = strings((o), (member));            \
        assert_string_equal(s_, (expected));          \
        g_free(s_);                                   \
    } while (0)

static gint64 audit_rows(struct fx *f)
{
    return rawdb_int(f->path, "SELECT count(*) FROM audit_log");
}

/* Standard objects, made through the API. */
static void add_user(struct fx *f, const char *name)
{
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\", \"password\": \"%s\"}", name,
                                            PASSWORD);
    request(f, "POST", "/v1/users", body, 201);
}

/* Templates are imported by aulad's libvirt side, which these tests do not
 * have: a valid POST answers 503 and changes nothing, and the template is
 * recorded directly, as the import would (defaults as the API's). */
static void add_template_as(struct fx *f, const char *name, int64_t mib, int64_t vcpus,
                            const char *video, const char *firmware, const char *os)
{
    g_autofree char *body = g_strdup_printf("{\"name\": \"%s\", \"disk\": \"%s\", \"memory_mib\": %"
                                            G_GINT64_FORMAT ", \"vcpus\": %" G_GINT64_FORMAT
                                            ", \"video\": \"%s\", \"firmware\": \"%s\", \"os\": \"%s\"}",
                                            name, f->qcow2, mib, vcpus, video, firmware, os);
    g_autofree char *volume = g_strdup_printf("%s.template.qcow2", name);
    struct db_template t = { .name = (char *)name, .disk_path = f->qcow2, .memory_mib = mib,
                             .vcpus = vcpus, .video = (char *)video, .firmware = (char *)firmware,
                             .os = (char *)os, .volume = volume };

    request(f, "POST", "/v1/templates", body, 503);
    assert_int_equal(db_template_add(f->db, "test", &t, NULL), 0);
}

static void add_template(struct fx *f, const char *name)
{
    add_template_as(f, name, 2048, 2, "virtio", "bios", "linux");
}

static void add_session(struct fx *f, const char *user, const char *pool, const char *state)
{
    g_autofree char *sql = g_strdup_printf(
        "INSERT INTO sessions (user_id, user_name, pool_id, pool_name, protocol, state,"
        " client_addr, created_at, state_since)"
        " SELECT u.id, u.name, p.id, p.name, 'vnc', '%s', '192.0.2.7', 1000, 1000"
        " FROM users u, pools p WHERE u.name = '%s' AND p.name = '%s'",
        state, user, pool);
    rawdb_exec(f->path, sql);
}

/* ---- authorization, routing, bodies ---- */

static void test_unauthorized(void **state)
{
    struct fx *f = *state;
    static const char *const reqs[][3] = {
        { "GET", "/v1/status", NULL },
        { "GET", "/v1/users", NULL },
        { "POST", "/v1/users", "{\"name\": \"eve\", \"password\": \"" PASSWORD "\"}" },
        { "DELETE", "/v1/users/alice", NULL },
        { "PUT", "/v1/users/alice/password", "{\"password\": \"owned owned\"}" },
        { "POST", "/v1/groups", "{\"name\": \"evil\"}" },
        { "DELETE", "/v1/pools/p1", NULL },
        { "GET", "/v1/nothing/here", NULL },
        { "GET", "/v1/audit", NULL },
        { "POST", "/v1/users", "not even json" },
    };

    add_user(f, "alice");
    add_template(f, "base");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 201);

    f->authorized = FALSE;
    for (size_t i = 0; i < G_N_ELEMENTS(reqs); i++) {
        request(f, reqs[i][0], reqs[i][1], reqs[i][2], 403);
        assert_error_contains(f, "permission denied");
        /* Nothing about the database leaks into the refusal. */
        assert_null(strstr(f->last_text, "alice"));
    }
    f->authorized = TRUE;
    request(f, "GET", "/v1/users/alice", NULL, 200);
}

static void test_unknown_paths(void **state)
{
    struct fx *f = *state;
    static const char *const paths[] = {
        "/v1/nothing", "/v2/users", "/", "", "/v1", "/v1/", "/users", "/v1/users/alice/extra",
        "/v1/users//alice", "/v1//users", "/v1/users/", "/v1/status/", "/v1/users/alice/",
        "/v1/users/alice/password/", "/V1/users", "/v1/USERS", "/v1/a/b/c/d/e/f/g/h/i/j",
        "/v1/groups/staff/members/alice/x", "/v1/entitlements/p1/user",
    };

    add_user(f, "alice");
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        request(f, "GET", paths[i], NULL, 404);
        request(f, "DELETE", paths[i], NULL, 404);
    }
    /* A trailing slash is not the same resource. */
    request(f, "GET", "/v1/users", NULL, 200);
    request(f, "GET", "/v1/users/", NULL, 404);
    request(f, "POST", "/v1/users/", "{\"name\": \"bob\", \"password\": \"" PASSWORD "\"}", 404);
    request(f, "GET", "/v1/users/alice", NULL, 200);
    request(f, "GET", "/v1/users/bob", NULL, 404);
    assert_error_contains(f, "unknown user 'bob'");
}

static void test_percent_encoding(void **state)
{
    struct fx *f = *state;
    JsonObject *u;

    add_user(f, "alice");
    u = object(request(f, "GET", "/v1/users/al%69ce", NULL, 200));
    assert_string_equal(json_object_get_string_member(u, "name"), "alice");
    u = object(request(f, "GET", "/v1/users/%61%6C%69%63%65", NULL, 200));
    assert_string_equal(json_object_get_string_member(u, "name"), "alice");
    request(f, "GET", "/v1/%75sers", NULL, 200);
    /* An escaped '/' is not a separator and names nothing. */
    request(f, "GET", "/v1/users/a%2Fb", NULL, 404);
    assert_error_contains(f, "no such resource: /v1/users/a%2Fb");
    request(f, "DELETE", "/v1/users/alice%2F", NULL, 404);
    request(f, "GET", "/v1/users%2Falice", NULL, 404);
    /* Malformed escapes and escaped NULs. */
    request(f, "GET", "/v1/users/%", NULL, 404);
    request(f, "GET", "/v1/users/al%6", NULL, 404);
    request(f, "GET", "/v1/users/al%zzce", NULL, 404);
    request(f, "GET", "/v1/users/alice%00", NULL, 404);
    /* A segment that decodes to nothing-with-spaces is just an unknown name. */
    request(f, "GET", "/v1/users/al%20ice", NULL, 404);
    /* Removal through an encoded name removes the right user. */
    request(f, "DELETE", "/v1/users/%61lice", NULL, 200);
    request(f, "GET", "/v1/users/alice", NULL, 404);
}

static void test_wrong_method(void **state)
{
    struct fx *f = *state;
    static const char *const reqs[][3] = {
        { "PUT", "/v1/users", "GET, POST" },
        { "DELETE", "/v1/users", "GET, POST" },
        { "POST", "/v1/status", "GET" },
        { "DELETE", "/v1/status", "GET" },
        { "POST", "/v1/users/alice", "GET, DELETE" },
        { "PATCH", "/v1/users/alice", "GET, DELETE" },
        { "GET", "/v1/users/alice/password", "PUT" },
        { "POST", "/v1/users/alice/password", "PUT" },
        { "GET", "/v1/groups/staff", "DELETE" },
        { "GET", "/v1/groups/staff/members", "POST" },
        { "GET", "/v1/groups/staff/members/alice", "DELETE" },
        { "PUT", "/v1/templates/base", "GET, DELETE" },
        { "PUT", "/v1/pools/p1", "GET, PATCH, DELETE" },
        { "PATCH", "/v1/pools", "GET, POST" },
        { "GET", "/v1/entitlements/p1/user/alice", "DELETE" },
        { "POST", "/v1/sessions", "GET" },
        { "DELETE", "/v1/audit", "GET" },
        { "get", "/v1/status", "GET" },
    };

    add_user(f, "alice");
    for (size_t i = 0; i < G_N_ELEMENTS(reqs); i++) {
        g_autofree char *allowed = g_strdup_printf("(allowed: %s)", reqs[i][2]);
        request(f, reqs[i][0], reqs[i][1], "{}", 405);
        assert_error_contains(f, allowed);
    }
}

static void test_bad_bodies(void **state)
{
    struct fx *f = *state;
    static const char *const malformed[] = {
        "{", "{\"name\": }", "not json", "{\"name\": \"bob\" \"password\": \"x\"}",
        "\xff\xfe", "{\"name\": \"bob\",", "}",
    };
    static const char *const not_object[] = { "[]", "[{\"name\": \"bob\"}]", "\"bob\"", "42", "null",
                                              "true", "   " };
    g_autofree char *huge = NULL;

    for (size_t i = 0; i < G_N_ELEMENTS(malformed); i++) {
        request(f, "POST", "/v1/users", malformed[i], 400);
        assert_error_contains(f, "malformed JSON");
    }
    for (size_t i = 0; i < G_N_ELEMENTS(not_object); i++) {
        request(f, "POST", "/v1/groups", not_object[i], 400);
        assert_error_contains(f, "must be a JSON object");
    }
    /* Empty bodies. */
    request(f, "POST", "/v1/users", NULL, 400);
    assert_error_contains(f, "needs a JSON object body");
    request(f, "POST", "/v1/users", "", 400);
    request_len(f, "POST", "/v1/groups", "{\"name\": \"staff\"}", 0, 400);
    request(f, "PATCH", "/v1/pools/p1", NULL, 400);
    request(f, "PUT", "/v1/users/alice/password", "", 400);

    /* Too big: refused before parsing. */
    huge = g_strnfill(70000, ' ');
    huge[0] = '{';
    huge[69998] = '}';
    request_len(f, "POST", "/v1/users", huge, 70000, 413);

    /* Unknown fields. */
    request(f, "POST", "/v1/users",
            "{\"name\": \"bob\", \"password\": \"" PASSWORD "\", \"admin\": true}", 400);
    assert_error_contains(f, "unknown field 'admin'");
    request(f, "POST", "/v1/users",
            "{\"name\": \"bob\", \"password_hash\": \"$y$abc\", \"password\": \"" PASSWORD "\"}", 400);
    request(f, "POST", "/v1/groups", "{\"name\": \"staff\", \"members\": []}", 400);
    request(f, "POST", "/v1/templates", "{\"name\": \"t\", \"disk\": \"/x\", \"ram\": 1}", 400);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p\", \"user\": \"u\", \"role\": \"x\"}", 400);

    /* Missing required fields. */
    request(f, "POST", "/v1/users", "{\"name\": \"bob\"}", 400);
    assert_error_contains(f, "missing field 'password'");
    request(f, "POST", "/v1/users", "{\"password\": \"" PASSWORD "\"}", 400);
    assert_error_contains(f, "missing field 'name'");
    request(f, "POST", "/v1/users", "{}", 400);
    request(f, "POST", "/v1/groups", "{}", 400);
    request(f, "POST", "/v1/templates", "{\"name\": \"t\"}", 400);
    assert_error_contains(f, "missing field 'disk'");
    request(f, "POST", "/v1/pools", "{\"name\": \"p\"}", 400);
    assert_error_contains(f, "missing field 'template'");
    request(f, "POST", "/v1/entitlements", "{\"user\": \"alice\"}", 400);
    assert_error_contains(f, "missing field 'pool'");
    request(f, "POST", "/v1/groups/staff/members", "{}", 400);
    request(f, "PUT", "/v1/users/alice/password", "{}", 400);

    /* Wrong types. */
    request(f, "POST", "/v1/users", "{\"name\": 5, \"password\": \"" PASSWORD "\"}", 400);
    assert_error_contains(f, "field 'name' must be a string");
    request(f, "POST", "/v1/users", "{\"name\": \"bob\", \"password\": 123456789}", 400);
    request(f, "POST", "/v1/users", "{\"name\": \"bob\", \"password\": null}", 400);
    request(f, "POST", "/v1/users", "{\"name\": [\"bob\"], \"password\": \"" PASSWORD "\"}", 400);
    request(f, "POST", "/v1/users", "{\"name\": {\"x\": 1}, \"password\": \"" PASSWORD "\"}", 400);
    request(f, "POST", "/v1/users", "{\"name\": true, \"password\": \"" PASSWORD "\"}", 400);
    {
        g_autofree char *b1 = g_strdup_printf(
            "{\"name\": \"t\", \"disk\": \"%s\", \"memory_mib\": \"2048\"}", f->qcow2);
        g_autofree char *b2 = g_strdup_printf(
            "{\"name\": \"t\", \"disk\": \"%s\", \"memory_mib\": 1.5}", f->qcow2);
        g_autofree char *b3 = g_strdup_printf(
            "{\"name\": \"t\", \"disk\": \"%s\", \"vcpus\": 2.0}", f->qcow2);
        g_autofree char *b4 = g_strdup_printf(
            "{\"name\": \"t\", \"disk\": \"%s\", \"vcpus\": true}", f->qcow2);
        g_autofree char *b5 = g_strdup_printf(
            "{\"name\": \"t\", \"disk\": \"%s\", \"video\": 1}", f->qcow2);
        request(f, "POST", "/v1/templates", b1, 400);
        assert_error_contains(f, "field 'memory_mib' must be a whole number");
        request(f, "POST", "/v1/templates", b2, 400);
        assert_error_contains(f, "field 'memory_mib' must be a whole number");
        request(f, "POST", "/v1/templates", b3, 400);
        request(f, "POST", "/v1/templates", b4, 400);
        request(f, "POST", "/v1/templates", b5, 400);
        assert_error_contains(f, "field 'video' must be a string");
    }
    request(f, "POST", "/v1/pools", "{\"name\": \"p\", \"template\": \"t\", \"max\": \"5\"}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p\", \"template\": \"t\", \"max\": 5.5}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p\", \"template\": \"t\", \"persistent\": 1}", 400);
    assert_error_contains(f, "field 'persistent' must be true or false");
    request(f, "POST", "/v1/pools", "{\"name\": \"p\", \"template\": 7}", 400);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p\", \"user\": 1}", 400);

    assert_int_equal(audit_rows(f), 0);
}

/* ---- users and groups ---- */

static void test_users(void **state)
{
    struct fx *f = *state;
    JsonObject *u;
    JsonArray *list;
    struct db_user *dbu = NULL;

    request(f, "POST", "/v1/users",
            "{\"name\": \"alice\", \"password\": \"" PASSWORD "\", \"full_name\": \"Alice L.\"}", 201);
    assert_true(json_object_get_boolean_member(object(f->last), "ok"));
    assert_string_equal(json_object_get_string_member(object(f->last), "message"), "user 'alice' added");
    assert_int_equal(audit_rows(f), 1);
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM audit_log WHERE actor = '" ACTOR "'"
                                        " AND action = 'user.add' AND target = 'alice'"),
                     1);

    u = object(request(f, "GET", "/v1/users/alice", NULL, 200));
    assert_string_equal(json_object_get_string_member(u, "name"), "alice");
    assert_string_equal(json_object_get_string_member(u, "full_name"), "Alice L.");
    assert_false(json_object_get_boolean_member(u, "disabled"));
    assert_strings(u, "groups", "");
    assert_strings(u, "pools", "");
    assert_true(json_object_get_int_member(u, "created_at") > 0);
    assert_true(json_object_get_int_member(u, "password_changed_at") > 0);
    /* No password, no hash, under any name. */
    {
        g_autoptr(GList) members = json_object_get_members(u);
        for (GList *m = members; m; m = m->next) {
            if (strcmp(m->data, "password_changed_at") == 0)
                continue;
            assert_null(strstr(m->data, "pass"));
            assert_null(strstr(m->data, "hash"));
        }
        assert_false(json_object_has_member(u, "password"));
        assert_false(json_object_has_member(u, "password_hash"));
        assert_false(json_object_has_member(u, "hash"));
        assert_int_equal(json_object_get_size(u), 7);
    }
    assert_null(strstr(f->last_text, "$y$"));
    assert_null(strstr(f->last_text, PASSWORD));
    /* The stored hash is a real one for the password. */
    assert_int_equal(db_user_get(f->db, "alice", &dbu, NULL), 0);
    assert_true(g_str_has_prefix(dbu->password_hash, "$y$"));
    assert_int_equal(auth_check_hash(PASSWORD, dbu->password_hash), 0);
    db_user_free(dbu);
    dbu = NULL;

    add_user(f, "bob");
    list = array(request(f, "GET", "/v1/users", NULL, 200));
    assert_int_equal(json_array_get_length(list), 2);
    assert_string_equal(json_object_get_string_member(json_array_get_object_element(list, 0), "name"), "alice");
    assert_string_equal(json_object_get_string_member(json_array_get_object_element(list, 1), "name"), "bob");
    assert_null(strstr(f->last_text, "$y$"));

    /* Refusals. */
    request(f, "POST", "/v1/users", "{\"name\": \"alice\", \"password\": \"another one\"}", 409);
    assert_error_contains(f, "already exists");
    request(f, "POST", "/v1/users", "{\"name\": \"-alice\", \"password\": \"" PASSWORD "\"}", 400);
    assert_error_contains(f, "invalid user name");
    request(f, "POST", "/v1/users", "{\"name\": \"a@b\", \"password\": \"" PASSWORD "\"}", 400);
    request(f, "POST", "/v1/users", "{\"name\": \"\", \"password\": \"" PASSWORD "\"}", 400);
    request(f, "POST", "/v1/users", "{\"name\": \"carol\", \"password\": \"\"}", 400);
    assert_error_contains(f, "empty");
    request(f, "POST", "/v1/users", "{\"name\": \"carol\", \"password\": \"a\\tb\"}", 400);
    assert_error_contains(f, "control character");
    request(f, "POST", "/v1/users",
            "{\"name\": \"carol\", \"password\": \"" PASSWORD "\", \"full_name\": \"two\\nlines\"}", 400);

    /* Password changes. */
    request(f, "PUT", "/v1/users/alice/password", "{\"password\": \"new password 2\"}", 200);
    assert_int_equal(db_user_get(f->db, "alice", &dbu, NULL), 0);
    assert_int_equal(auth_check_hash("new password 2", dbu->password_hash), 0);
    assert_int_equal(auth_check_hash(PASSWORD, dbu->password_hash), -EACCES);
    db_user_free(dbu);
    dbu = NULL;
    request(f, "PUT", "/v1/users/carol/password", "{\"password\": \"new password 3\"}", 404);
    request(f, "PUT", "/v1/users/alice/password", "{\"password\": \"\"}", 400);
    request(f, "PUT", "/v1/users/alice/password", "{\"password\": \"x\", \"old\": \"y\"}", 400);
    /* The audit log never holds a password. */
    assert_int_equal(rawdb_int(f->path, "SELECT count(*) FROM audit_log WHERE detail LIKE '%pass%'"
                                        " OR detail LIKE '%$y$%'"),
                     0);

    /* Removal. */
    request(f, "DELETE", "/v1/users/bob", NULL, 200);
    request(f, "DELETE", "/v1/users/bob", NULL, 404);
    request(f, "GET", "/v1/users/bob", NULL, 404);
    list = array(request(f, "GET", "/v1/users", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
}

static void test_groups(void **state)
{
    struct fx *f = *state;
    JsonArray *list;
    JsonObject *g;

    add_user(f, "alice");
    add_user(f, "bob");
    request(f, "POST", "/v1/groups", "{\"name\": \"staff\"}", 201);
    request(f, "POST", "/v1/groups", "{\"name\": \"staff\"}", 409);
    request(f, "POST", "/v1/groups", "{\"name\": \"st/aff\"}", 400);
    request(f, "POST", "/v1/groups/staff/members", "{\"user\": \"bob\"}", 201);
    request(f, "POST", "/v1/groups/staff/members", "{\"user\": \"alice\"}", 201);
    request(f, "POST", "/v1/groups/staff/members", "{\"user\": \"alice\"}", 409);
    request(f, "POST", "/v1/groups/staff/members", "{\"user\": \"carol\"}", 404);
    request(f, "POST", "/v1/groups/other/members", "{\"user\": \"alice\"}", 404);

    list = array(request(f, "GET", "/v1/groups", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    g = json_array_get_object_element(list, 0);
    assert_string_equal(json_object_get_string_member(g, "name"), "staff");
    assert_strings(g, "members", "alice,bob");
    assert_strings(object(request(f, "GET", "/v1/users/alice", NULL, 200)), "groups", "staff");

    request(f, "DELETE", "/v1/groups/staff/members/alice", NULL, 200);
    request(f, "DELETE", "/v1/groups/staff/members/alice", NULL, 404);
    request(f, "DELETE", "/v1/groups/staff/members/carol", NULL, 404);
    request(f, "DELETE", "/v1/groups/other/members/bob", NULL, 404);
    request(f, "DELETE", "/v1/groups/staff", NULL, 200);
    request(f, "DELETE", "/v1/groups/staff", NULL, 404);
    list = array(request(f, "GET", "/v1/groups", NULL, 200));
    assert_int_equal(json_array_get_length(list), 0);
    /* 2 users, group add, 2 member adds, member removal, group removal. */
    assert_int_equal(audit_rows(f), 7);
}

/* ---- templates ---- */

static void test_templates(void **state)
{
    struct fx *f = *state;
    g_autofree char *text = write_file(f, "notes.txt", "this is not a disk image at all", -1);
    g_autofree char *tiny = write_file(f, "tiny.qcow2", "QF", 2);
    g_autofree char *missing = g_build_filename(f->dir, "missing.qcow2", NULL);
    g_autofree char *subdir = g_build_filename(f->dir, "images.qcow2", NULL);
    g_autofree char *body = NULL;
    JsonObject *t;

    assert_int_equal(g_mkdir(subdir, 0700), 0);
    add_template_as(f, "base", 4096, 4, "qxl", "uefi", "windows");
    t = object(request(f, "GET", "/v1/templates/base", NULL, 200));
    assert_string_equal(json_object_get_string_member(t, "name"), "base");
    assert_string_equal(json_object_get_string_member(t, "disk"), f->qcow2);
    assert_int_equal(json_object_get_int_member(t, "memory_mib"), 4096);
    assert_int_equal(json_object_get_int_member(t, "vcpus"), 4);
    assert_string_equal(json_object_get_string_member(t, "video"), "qxl");
    assert_string_equal(json_object_get_string_member(t, "firmware"), "uefi");
    assert_string_equal(json_object_get_string_member(t, "os"), "windows");
    assert_strings(t, "pools", "");

    /* Defaults. */
    add_template(f, "plain");
    t = object(request(f, "GET", "/v1/templates/plain", NULL, 200));
    assert_int_equal(json_object_get_int_member(t, "memory_mib"), 2048);
    assert_int_equal(json_object_get_int_member(t, "vcpus"), 2);
    assert_string_equal(json_object_get_string_member(t, "video"), "virtio");
    assert_string_equal(json_object_get_string_member(t, "firmware"), "bios");
    assert_string_equal(json_object_get_string_member(t, "os"), "linux");
    assert_int_equal(json_array_get_length(array(request(f, "GET", "/v1/templates", NULL, 200))), 2);

    /* The disk must be a qcow2 image that aulad can read. */
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\"}", text);
    request(f, "POST", "/v1/templates", body, 400);
    assert_error_contains(f, "not a qcow2 disk image");
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\"}", tiny);
    request(f, "POST", "/v1/templates", body, 400);
    assert_error_contains(f, "not a qcow2 disk image");
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\"}", missing);
    request(f, "POST", "/v1/templates", body, 400);
    assert_error_contains(f, "No such file or directory");
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\"}", subdir);
    request(f, "POST", "/v1/templates", body, 400);
    assert_error_contains(f, "not a regular file");
    request(f, "POST", "/v1/templates", "{\"name\": \"t2\", \"disk\": \"base.qcow2\"}", 400);
    assert_error_contains(f, "absolute path");
    request(f, "POST", "/v1/templates", "{\"name\": \"t2\", \"disk\": \"\"}", 400);

    /* Values the database refuses. */
    g_free(body);
    body = g_strdup_printf("{\"name\": \"base\", \"disk\": \"%s\"}", f->qcow2);
    request(f, "POST", "/v1/templates", body, 409);
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t 2\", \"disk\": \"%s\"}", f->qcow2);
    request(f, "POST", "/v1/templates", body, 400);
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\", \"video\": \"cirrus\"}", f->qcow2);
    request(f, "POST", "/v1/templates", body, 400);
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\", \"memory_mib\": 1}", f->qcow2);
    request(f, "POST", "/v1/templates", body, 400);
    g_free(body);
    body = g_strdup_printf("{\"name\": \"t2\", \"disk\": \"%s\", \"vcpus\": 0}", f->qcow2);
    request(f, "POST", "/v1/templates", body, 400);

    request(f, "GET", "/v1/templates/t2", NULL, 404);
    request(f, "DELETE", "/v1/templates/plain", NULL, 200);
    request(f, "DELETE", "/v1/templates/plain", NULL, 404);
    assert_int_equal(audit_rows(f), 3);
}

/* ---- pools ---- */

static void test_pools(void **state)
{
    struct fx *f = *state;
    JsonObject *p;

    add_template(f, "base");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 201);
    p = object(request(f, "GET", "/v1/pools/p1", NULL, 200));
    assert_string_equal(json_object_get_string_member(p, "name"), "p1");
    assert_string_equal(json_object_get_string_member(p, "template"), "base");
    assert_int_equal(json_object_get_int_member(p, "min"), 0);
    assert_int_equal(json_object_get_int_member(p, "max"), 10);
    assert_int_equal(json_object_get_int_member(p, "spare"), 1);
    assert_false(json_object_get_boolean_member(p, "persistent"));
    assert_string_equal(json_object_get_string_member(p, "clone"), "linked");
    assert_string_equal(json_object_get_string_member(p, "protocols"), "rdp,vnc");
    assert_int_equal(json_object_get_int_member(p, "disconnect_timeout"), 300);
    assert_int_equal(json_object_get_int_member(p, "idle_timeout"), 0);
    assert_int_equal(json_object_get_int_member(p, "active_sessions"), 0);
    assert_strings(p, "entitled_users", "");
    assert_strings(p, "entitled_groups", "");

    request(f, "POST", "/v1/pools",
            "{\"name\": \"p2\", \"template\": \"base\", \"min\": 2, \"max\": 4, \"spare\": 0,"
            " \"persistent\": true, \"clone\": \"full\", \"protocols\": \"vnc\","
            " \"disconnect_timeout\": 60, \"idle_timeout\": 900}",
            201);
    p = object(request(f, "GET", "/v1/pools/p2", NULL, 200));
    assert_int_equal(json_object_get_int_member(p, "min"), 2);
    assert_int_equal(json_object_get_int_member(p, "max"), 4);
    assert_int_equal(json_object_get_int_member(p, "spare"), 0);
    assert_true(json_object_get_boolean_member(p, "persistent"));
    assert_string_equal(json_object_get_string_member(p, "clone"), "full");
    assert_string_equal(json_object_get_string_member(p, "protocols"), "vnc");
    assert_int_equal(json_object_get_int_member(p, "idle_timeout"), 900);
    assert_int_equal(json_array_get_length(array(request(f, "GET", "/v1/pools", NULL, 200))), 2);
    assert_strings(object(request(f, "GET", "/v1/templates/base", NULL, 200)), "pools", "p1,p2");

    /* Creation refusals. */
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"base\", \"min\": 5, \"max\": 2}", 400);
    assert_error_contains(f, "min (5) is greater than max (2)");
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"base\", \"spare\": 11}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"base\", \"protocols\": \"ssh\"}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"base\", \"clone\": \"thin\"}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"base\", \"max\": 0}", 400);
    request(f, "POST", "/v1/pools", "{\"name\": \"p3\", \"template\": \"nosuch\"}", 404);
    assert_error_contains(f, "unknown template 'nosuch'");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 409);
    request(f, "POST", "/v1/pools", "{\"name\": \"p 3\", \"template\": \"base\"}", 400);

    /* PATCH */
    request(f, "PATCH", "/v1/pools/p1", "{\"max\": 20, \"protocols\": \"vnc, rdp\", \"persistent\": true}", 200);
    p = object(request(f, "GET", "/v1/pools/p1", NULL, 200));
    assert_int_equal(json_object_get_int_member(p, "max"), 20);
    assert_string_equal(json_object_get_string_member(p, "protocols"), "rdp,vnc");
    assert_true(json_object_get_boolean_member(p, "persistent"));
    assert_int_equal(json_object_get_int_member(p, "min"), 0); /* untouched */
    assert_int_equal(json_object_get_int_member(p, "spare"), 1);
    request(f, "PATCH", "/v1/pools/p1", "{\"min\": 21}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"spare\": 21}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"protocols\": \"\"}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"idle_timeout\": -1}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{}", 400);
    assert_error_contains(f, "nothing to change");
    request(f, "PATCH", "/v1/pools/p1", "{\"template\": \"base\"}", 400);
    assert_error_contains(f, "unknown field 'template'");
    request(f, "PATCH", "/v1/pools/p1", "{\"name\": \"p9\"}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"clone\": \"full\"}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"max\": \"30\"}", 400);
    request(f, "PATCH", "/v1/pools/p1", "{\"max\": 30, \"persistent\": \"yes\"}", 400);
    request(f, "PATCH", "/v1/pools/p9", "{\"max\": 30}", 404);
    request(f, "PATCH", "/v1/pools/p1", "[]", 400);

    /* DELETE */
    add_user(f, "alice");
    add_session(f, "alice", "p1", "connected");
    request(f, "DELETE", "/v1/pools/p1", NULL, 409);
    assert_error_contains(f, "active session");
    request(f, "DELETE", "/v1/templates/base", NULL, 409);
    rawdb_exec(f->path, "UPDATE sessions SET state = 'logged_off'");
    request(f, "DELETE", "/v1/pools/p1", NULL, 200);
    request(f, "DELETE", "/v1/pools/p1", NULL, 404);
    request(f, "GET", "/v1/pools/p1", NULL, 404);
    request(f, "DELETE", "/v1/pools/p2", NULL, 200);
    request(f, "DELETE", "/v1/templates/base", NULL, 200);
    /* template, 2 pools, 1 change, user, 2 pool removals, template removal */
    assert_int_equal(audit_rows(f), 8);
}

/* ---- entitlements ---- */

static void test_entitlements(void **state)
{
    struct fx *f = *state;
    JsonArray *list;
    JsonObject *e;

    add_template(f, "base");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 201);
    request(f, "POST", "/v1/pools", "{\"name\": \"p2\", \"template\": \"base\"}", 201);
    add_user(f, "alice");
    add_user(f, "bob");
    request(f, "POST", "/v1/groups", "{\"name\": \"staff\"}", 201);
    request(f, "POST", "/v1/groups/staff/members", "{\"user\": \"bob\"}", 201);

    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\", \"user\": \"alice\"}", 201);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p2\", \"group\": \"staff\"}", 201);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\", \"user\": \"alice\"}", 409);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\", \"user\": \"alice\", \"group\": \"staff\"}", 400);
    assert_error_contains(f, "exactly one");
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\"}", 400);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p9\", \"user\": \"alice\"}", 404);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\", \"user\": \"carol\"}", 404);
    request(f, "POST", "/v1/entitlements", "{\"pool\": \"p1\", \"group\": \"nogroup\"}", 404);

    list = array(request(f, "GET", "/v1/entitlements", NULL, 200));
    assert_int_equal(json_array_get_length(list), 2);
    e = json_array_get_object_element(list, 0);
    assert_string_equal(json_object_get_string_member(e, "pool"), "p1");
    assert_string_equal(json_object_get_string_member(e, "user"), "alice");
    assert_true(json_object_get_null_member(e, "group"));
    e = json_array_get_object_element(list, 1);
    assert_string_equal(json_object_get_string_member(e, "pool"), "p2");
    assert_true(json_object_get_null_member(e, "user"));
    assert_string_equal(json_object_get_string_member(e, "group"), "staff");
    list = array(request(f, "GET", "/v1/entitlements?pool=p2", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    request(f, "GET", "/v1/entitlements?pool=p9", NULL, 404);
    /* bob gets p2 through staff. */
    assert_strings(object(request(f, "GET", "/v1/users/bob", NULL, 200)), "pools", "p2");
    assert_strings(object(request(f, "GET", "/v1/pools/p2", NULL, 200)), "entitled_groups", "staff");

    request(f, "DELETE", "/v1/entitlements/p1/bogus/alice", NULL, 404);
    assert_error_contains(f, "no such resource");
    request(f, "DELETE", "/v1/entitlements/p1/users/alice", NULL, 404);
    request(f, "DELETE", "/v1/entitlements/p1/user/alice", NULL, 200);
    request(f, "DELETE", "/v1/entitlements/p1/user/alice", NULL, 404);
    request(f, "DELETE", "/v1/entitlements/p2/user/bob", NULL, 404); /* via a group only */
    request(f, "DELETE", "/v1/entitlements/p9/group/staff", NULL, 404);
    request(f, "DELETE", "/v1/entitlements/p2/group/staff", NULL, 200);
    list = array(request(f, "GET", "/v1/entitlements", NULL, 200));
    assert_int_equal(json_array_get_length(list), 0);
    assert_strings(object(request(f, "GET", "/v1/users/bob", NULL, 200)), "pools", "");
}

/* ---- sessions, audit, status ---- */

static void test_sessions(void **state)
{
    struct fx *f = *state;
    JsonArray *list;
    JsonObject *s;

    list = array(request(f, "GET", "/v1/sessions", NULL, 200));
    assert_int_equal(json_array_get_length(list), 0);

    add_template(f, "base");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 201);
    add_user(f, "alice");
    add_session(f, "alice", "p1", "connected");
    add_session(f, "alice", "p1", "logged_off");

    list = array(request(f, "GET", "/v1/sessions", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    s = json_array_get_object_element(list, 0);
    assert_true(json_object_get_int_member(s, "id") > 0);
    assert_string_equal(json_object_get_string_member(s, "user"), "alice");
    assert_string_equal(json_object_get_string_member(s, "pool"), "p1");
    assert_true(json_object_get_null_member(s, "vm"));
    assert_string_equal(json_object_get_string_member(s, "protocol"), "vnc");
    assert_string_equal(json_object_get_string_member(s, "client"), "192.0.2.7");
    assert_string_equal(json_object_get_string_member(s, "state"), "connected");
    assert_int_equal(json_object_get_int_member(s, "created_at"), 1000);
    list = array(request(f, "GET", "/v1/sessions?all=1", NULL, 200));
    assert_int_equal(json_array_get_length(list), 2);
    list = array(request(f, "GET", "/v1/sessions?all=0", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
}

static void test_audit(void **state)
{
    struct fx *f = *state;
    JsonArray *list;
    JsonObject *e;

    add_user(f, "alice");
    add_user(f, "bob");
    request(f, "PUT", "/v1/users/alice/password", "{\"password\": \"changed pass\"}", 200);
    rawdb_exec(f->path, "UPDATE audit_log SET ts = id * 100");

    list = array(request(f, "GET", "/v1/audit", NULL, 200));
    assert_int_equal(json_array_get_length(list), 3);
    e = json_array_get_object_element(list, 0);
    assert_int_equal(json_object_get_int_member(e, "ts"), 100);
    assert_string_equal(json_object_get_string_member(e, "actor"), ACTOR);
    assert_string_equal(json_object_get_string_member(e, "action"), "user.add");
    assert_string_equal(json_object_get_string_member(e, "target"), "alice");
    assert_string_equal(json_object_get_string_member(e, "user"), "alice");
    assert_true(json_object_get_null_member(e, "pool"));
    assert_string_equal(json_object_get_string_member(e, "outcome"), "ok");
    e = json_array_get_object_element(list, 2);
    assert_string_equal(json_object_get_string_member(e, "action"), "user.passwd");

    list = array(request(f, "GET", "/v1/audit?user=alice", NULL, 200));
    assert_int_equal(json_array_get_length(list), 2);
    list = array(request(f, "GET", "/v1/audit?user=bob", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    list = array(request(f, "GET", "/v1/audit?since=200", NULL, 200));
    assert_int_equal(json_array_get_length(list), 2);
    list = array(request(f, "GET", "/v1/audit?limit=1", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    assert_string_equal(json_object_get_string_member(json_array_get_object_element(list, 0), "action"),
                        "user.passwd");
    list = array(request(f, "GET", "/v1/audit?since=100&user=alice&limit=1", NULL, 200));
    assert_int_equal(json_array_get_length(list), 1);
    assert_int_equal(json_object_get_int_member(json_array_get_object_element(list, 0), "ts"), 300);
    list = array(request(f, "GET", "/v1/audit?pool=p1", NULL, 200));
    assert_int_equal(json_array_get_length(list), 0);
    list = array(request(f, "GET", "/v1/audit?since=99999999999", NULL, 200));
    assert_int_equal(json_array_get_length(list), 0);

    request(f, "GET", "/v1/audit?since=abc", NULL, 400);
    assert_error_contains(f, "'since'");
    request(f, "GET", "/v1/audit?since=-5", NULL, 400);
    request(f, "GET", "/v1/audit?since=", NULL, 400);
    request(f, "GET", "/v1/audit?limit=ten", NULL, 400);
    assert_error_contains(f, "'limit'");
    request(f, "GET", "/v1/audit?limit=1.5", NULL, 400);
    request(f, "GET", "/v1/audit?limit=99999999999999999999999", NULL, 400);
}

static void status_extra(JsonBuilder *b, void *data)
{
    json_builder_set_member_name(b, "libvirt");
    json_builder_add_string_value(b, data);
}

static void test_status(void **state)
{
    struct fx *f = *state;
    JsonObject *s, *c;
    g_autofree char *db_path = conf_db_path(f->cfg);

    s = object(request(f, "GET", "/v1/status", NULL, 200));
    assert_string_equal(json_object_get_string_member(s, "version"), PACKAGE_VERSION);
    assert_int_equal(json_object_get_int_member(s, "pid"), getpid());
    assert_true(json_object_get_int_member(s, "uptime") >= 0);
    assert_string_equal(json_object_get_string_member(s, "state_dir"), f->cfg->state_dir);
    assert_string_equal(json_object_get_string_member(s, "database"), db_path);
    assert_int_equal(json_object_get_int_member(s, "schema_version"), 3);
    assert_string_equal(json_object_get_string_member(s, "admin_group"), "aula-admin");
    assert_string_equal(json_object_get_string_member(s, "hypervisor"), "auto");
    assert_false(json_object_has_member(s, "libvirt"));
    c = json_object_get_object_member(s, "counts");
    assert_non_null(c);
    assert_int_equal(json_object_get_int_member(c, "users"), 0);
    assert_int_equal(json_object_get_int_member(c, "pools"), 0);
    assert_int_equal(json_object_get_int_member(c, "active_sessions"), 0);

    add_template(f, "base");
    request(f, "POST", "/v1/pools", "{\"name\": \"p1\", \"template\": \"base\"}", 201);
    add_user(f, "alice");
    add_user(f, "bob");
    request(f, "POST", "/v1/groups", "{\"name\": \"staff\"}", 201);
    add_session(f, "alice", "p1", "connected");
    add_session(f, "bob", "p1", "logged_off");

    admin_api_set_status_fn(f->api, status_extra, (void *)"test:///default");
    s = object(request(f, "GET", "/v1/status", NULL, 200));
    c = json_object_get_object_member(s, "counts");
    assert_int_equal(json_object_get_int_member(c, "users"), 2);
    assert_int_equal(json_object_get_int_member(c, "groups"), 1);
    assert_int_equal(json_object_get_int_member(c, "templates"), 1);
    assert_int_equal(json_object_get_int_member(c, "pools"), 1);
    assert_int_equal(json_object_get_int_member(c, "vms"), 0);
    assert_int_equal(json_object_get_int_member(c, "active_sessions"), 1);
    assert_string_equal(json_object_get_string_member(s, "libvirt"), "test:///default");
}

/* ---- peer ---- */

static void test_peer_is_admin(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    uid_t nobody;
    gid_t nobody_gid, nogroup;

    /* root always, whatever the group says. */
    assert_true(peer_is_admin(0, 0, "aula-admin"));
    assert_true(peer_is_admin(0, 0, ""));
    assert_true(peer_is_admin(0, 0, NULL));
    assert_true(peer_is_admin(0, 12345, "no-such-group-for-aula-tests"));

    if (pw == NULL || gr == NULL) {
        print_message("no user nobody or group nogroup here: skipping the rest\n");
        skip();
    }
    nobody = pw->pw_uid;
    nobody_gid = pw->pw_gid;
    nogroup = gr->gr_gid;
    if (nobody_gid != nogroup) {
        print_message("nobody's primary group is not nogroup here: skipping the rest\n");
        skip();
    }
    assert_true(nobody != 0);

    assert_true(peer_is_admin(nobody, nobody_gid, "nogroup"));
    /* The group database says so even when the peer's gid does not. */
    assert_true(peer_is_admin(nobody, (gid_t)54321, "nogroup"));
    assert_false(peer_is_admin(nobody, nobody_gid, ""));
    assert_false(peer_is_admin(nobody, nobody_gid, NULL));
    assert_false(peer_is_admin(nobody, nobody_gid, "no-such-group-for-aula-tests"));
    assert_false(peer_is_admin(nobody, nobody_gid, "root"));
    /* A peer whose gid is the admin group's is admitted even without a passwd entry. */
    assert_true(peer_is_admin((uid_t)3999999, nogroup, "nogroup"));
    assert_false(peer_is_admin((uid_t)3999999, (gid_t)3999999, "nogroup"));
}

static void test_peer_names(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    char *name;

    name = peer_user_name(0);
    assert_string_equal(name, "root");
    g_free(name);
    if (pw != NULL) {
        name = peer_user_name(pw->pw_uid);
        assert_string_equal(name, "nobody");
        g_free(name);
    }
    assert_null(getpwuid(3999999));
    name = peer_user_name(3999999);
    assert_string_equal(name, "uid 3999999");
    g_free(name);
}

static void test_peer_from_socket(void **state)
{
    int fds[2];
    GSocket *sock;
    struct peer p = { 0 };
    GError *error = NULL;
    g_autofree char *me = peer_user_name(getuid());

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    sock = g_socket_new_from_fd(fds[0], &error);
    assert_non_null(sock);
    assert_int_equal(peer_from_socket(sock, &p, &error), 0);
    assert_null(error);
    assert_int_equal(p.uid, getuid());
    assert_int_equal(p.gid, getgid());
    assert_int_equal(p.pid, getpid());
    assert_string_equal(p.name, me);
    peer_clear(&p);
    assert_null(p.name);
    peer_clear(&p);
    g_object_unref(sock);
    close(fds[1]);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_unauthorized),
        T(test_unknown_paths),
        T(test_percent_encoding),
        T(test_wrong_method),
        T(test_bad_bodies),
        T(test_users),
        T(test_groups),
        T(test_templates),
        T(test_pools),
        T(test_entitlements),
        T(test_sessions),
        T(test_audit),
        T(test_status),
        cmocka_unit_test(test_peer_is_admin),
        cmocka_unit_test(test_peer_names),
        cmocka_unit_test(test_peer_from_socket),
    };
#undef T

    g_log_set_writer_func(log_writer, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
