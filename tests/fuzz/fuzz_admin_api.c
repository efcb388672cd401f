/* libFuzzer target: requests into the admin API's router and handlers, on a
 * real (temporary) database. The first byte picks a method and a route, the
 * rest is the body. Every answer must be JSON with a status, and an error
 * must carry that status and a message. */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/admin_api.h"
#include "broker/conf.h"
#include "db/db.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct db *db;
static struct conf *cfg;
static struct admin_api *api;

static const struct {
    const char *method, *path;
} routes[] = {
    { "POST", "/v1/users" },         { "PUT", "/v1/users/fuzz/password" },
    { "POST", "/v1/groups" },        { "POST", "/v1/groups/staff/members" },
    { "POST", "/v1/templates" },     { "POST", "/v1/pools" },
    { "PATCH", "/v1/pools/lab" },    { "POST", "/v1/entitlements" },
    { "POST", "/v1/pools/lab/allocate" }, { "POST", "/v1/vms/aula-lab-1/backup" },
    { "POST", "/v1/vms/aula-lab-1/snapshots" }, { "GET", "/v1/audit" },
    { "GET", "/v1/status" },         { "DELETE", "/v1/users/fuzz" },
    { "GET", "/v1/vms" },            { "DELETE", "/v1/entitlements/lab/user/fuzz" },
};

static GLogWriterOutput quiet(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    return G_LOG_WRITER_HANDLED;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_autofree char *dir = g_dir_make_tmp("aula-fuzz-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "aula.db", NULL);
    struct db_template t = { .name = "tmpl", .disk_path = "/srv/t.qcow2", .memory_mib = 512, .vcpus = 1,
                             .video = "vga", .firmware = "bios", .os = "linux", .volume = "t.qcow2" };
    struct db_pool p = { .name = "lab", .template_name = "tmpl", .max_size = 4, .spare = 1,
                         .clone = "linked", .protocols = "rdp,vnc" };

    g_log_set_writer_func(quiet, NULL, NULL);
    if (db_open(path, &db, NULL) < 0)
        abort();
    db_template_add(db, "fuzz", &t, NULL);
    db_pool_add(db, "fuzz", &p, NULL);
    db_group_add(db, "fuzz", "staff", NULL);
    cfg = conf_new_defaults();
    api = admin_api_new(db, cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct admin_request req = { 0 };
    struct admin_response resp = { 0 };
    JsonParser *parser;
    JsonNode *root;

    if (size == 0)
        return 0;
    req.method = routes[data[0] % G_N_ELEMENTS(routes)].method;
    req.path = routes[data[0] % G_N_ELEMENTS(routes)].path;
    req.body = (const char *)data + 1;
    req.body_len = size - 1;
    req.actor = "fuzz";
    req.authorized = TRUE;
    admin_api_handle(api, &req, &resp);
    /* Without a pool manager (no libvirt) nothing is deferred. */
    if (resp.status < 200 || resp.status > 599 || resp.body == NULL)
        __builtin_trap();
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, resp.body, -1, NULL))
        __builtin_trap();
    root = json_parser_get_root(parser);
    if (resp.status >= 400) {
        JsonObject *e = root && JSON_NODE_HOLDS_OBJECT(root)
                            ? json_object_get_object_member(json_node_get_object(root), "error") : NULL;
        if (e == NULL || json_object_get_int_member(e, "status") != (gint64)resp.status ||
            !json_object_has_member(e, "message"))
            __builtin_trap();
    }
    g_object_unref(parser);
    g_free(resp.body);
    return 0;
}
