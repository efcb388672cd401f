/* admin_server: the admin API's HTTP transport on a UNIX socket. */
#include "config.h"

#include "broker/admin_server.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/admin_api.h"
#include "broker/conf.h"
#include "broker/peer.h"

#define SERVER_ERROR (g_quark_from_static_string("aula-admin-server-error"))

struct admin_server {
    SoupServer *soup;
    char *path;
    struct admin_api *api;
    const struct conf *cfg;
};

static void set_json(SoupServerMessage *msg, guint status, char *body)
{
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body, strlen(body));
}

static void refuse(SoupServerMessage *msg, guint status, const char *message)
{
    set_json(msg, status, admin_api_error_body(status, message));
}

/* Who is asking? Fills *p; FALSE (and a 403 set on msg) when that cannot be told. */
static gboolean identify(SoupServerMessage *msg, struct peer *p)
{
    g_autoptr(GError) err = NULL;
    GSocket *sock = soup_server_message_get_socket(msg);

    if (sock == NULL || peer_from_socket(sock, p, &err) < 0) {
        g_warning("admin API: refused a request: %s", err ? err->message : "no socket");
        refuse(msg, SOUP_STATUS_FORBIDDEN, "permission denied: cannot identify the caller");
        return FALSE;
    }
    return TRUE;
}

/* Before the body is read: refuse unauthorized peers and oversized bodies, so
 * that neither costs more than the headers. */
static void on_headers(SoupServer *soup, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer data)
{
    struct admin_server *s = data;
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    struct peer p = { 0 };

    if (!identify(msg, &p))
        return;
    if (!peer_is_admin(p.uid, p.gid, s->cfg->admin_group)) {
        g_warning("admin API: denied %s %s to %s (uid %u, pid %d): not root nor in group '%s'",
                  soup_server_message_get_method(msg), path, p.name, (unsigned)p.uid, (int)p.pid,
                  s->cfg->admin_group);
        refuse(msg, SOUP_STATUS_FORBIDDEN,
               "permission denied: the admin API is for root and members of admin_group");
    } else if (soup_message_headers_get_content_length(h) > ADMIN_API_BODY_MAX) {
        g_info("admin API: %s %s by %s refused (413): body of %" G_GINT64_FORMAT " bytes",
               soup_server_message_get_method(msg), path, p.name,
               soup_message_headers_get_content_length(h));
        refuse(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the request body is too large");
    }
    peer_clear(&p);
}

/* A request whose answer may come after the handler returns. */
struct pending {
    SoupServerMessage *msg; /* a reference */
    gboolean paused;
    gboolean answered;
    char *what;             /* "METHOD path by actor", for the log */
};

static void pending_free(struct pending *p)
{
    g_object_unref(p->msg);
    g_free(p->what);
    g_free(p);
}

static void on_reply(guint status, char *body, gpointer data)
{
    struct pending *p = data;

    if (status >= 400)
        g_info("admin API: %s refused (%u): %s", p->what, status, body);
    else
        g_debug("admin API: %s -> %u", p->what, status);
    set_json(p->msg, status, body);
    p->answered = TRUE;
    if (p->paused) {
        soup_server_message_unpause(p->msg);
        pending_free(p);
    }
}

static void on_request(SoupServer *soup, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer data)
{
    struct admin_server *s = data;
    g_autoptr(GBytes) body = NULL;
    struct admin_response resp = { 0 };
    struct admin_request req = { 0 };
    struct peer p = { 0 };
    struct pending *pending;
    gsize len = 0;

    if (soup_server_message_get_status(msg) != SOUP_STATUS_NONE)
        return; /* already refused by on_headers */
    if (!identify(msg, &p))
        return;
    body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    req.method = soup_server_message_get_method(msg);
    req.path = g_uri_get_path(soup_server_message_get_uri(msg));
    req.query = query;
    req.body = g_bytes_get_data(body, &len);
    req.body_len = len;
    req.actor = p.name;
    req.authorized = peer_is_admin(p.uid, p.gid, s->cfg->admin_group);
    pending = g_new0(struct pending, 1);
    pending->msg = g_object_ref(msg);
    pending->what = g_strdup_printf("%s %s by %s", req.method, req.path, p.name);
    req.reply = on_reply;
    req.reply_data = pending;
    admin_api_handle(s->api, &req, &resp);
    if (resp.status == 0) {
        /* Deferred: answered already, or later through on_reply. */
        if (pending->answered) {
            pending_free(pending);
        } else {
            pending->paused = TRUE;
            soup_server_message_pause(msg);
        }
        peer_clear(&p);
        return;
    }
    pending_free(pending);
    g_debug("admin API: %s %s by %s -> %u", req.method, req.path, p.name, resp.status);
    if (resp.status >= 400)
        g_info("admin API: %s %s by %s refused (%u): %s", req.method, req.path, p.name,
               resp.status, resp.body);
    if (resp.allow)
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     resp.allow);
    set_json(msg, resp.status, resp.body);
    peer_clear(&p);
}

/* Make the socket's directory, and clear a stale socket file; refuse to touch a
 * path that is not a socket or that another process still serves. */
static int prepare_path(const char *path, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocketConnection) conn = NULL;
    struct stat st;

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        int e = errno;
        g_set_error(error, SERVER_ERROR, e, "cannot create %s: %s", dir, g_strerror(e));
        return -e;
    }
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        g_set_error(error, SERVER_ERROR, EEXIST,
                    "%s exists and is not a socket: remove it or set admin_socket", path);
        return -EEXIST;
    }
    client = g_socket_client_new();
    addr = g_unix_socket_address_new(path);
    conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, NULL);
    if (conn != NULL) {
        g_set_error(error, SERVER_ERROR, EADDRINUSE,
                    "%s is served by another process (another aulad with another state_dir?)", path);
        return -EADDRINUSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        int e = errno;
        g_set_error(error, SERVER_ERROR, e, "cannot remove stale socket %s: %s", path, g_strerror(e));
        return -e;
    }
    return 0;
}

int admin_server_start(struct admin_api *api, const struct conf *cfg,
                       struct admin_server **serverp, GError **error)
{
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GSocket) sock = NULL;
    struct admin_server *s = NULL;
    const char *path = cfg->admin_socket;
    int r;

    r = prepare_path(path, error);
    if (r < 0)
        return r;
    sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
    if (sock == NULL)
        return -EIO;
    addr = g_unix_socket_address_new(path);
    if (!g_socket_bind(sock, addr, FALSE, error) || !g_socket_listen(sock, error)) {
        g_prefix_error(error, "cannot listen on %s: ", path);
        return -EIO;
    }
    /* Anyone may connect; each request is authorized by its peer credentials. */
    if (chmod(path, 0666) < 0) {
        r = -errno;
        g_set_error(error, SERVER_ERROR, errno, "cannot chmod %s: %s", path, g_strerror(errno));
        unlink(path);
        return r;
    }
    s = g_new0(struct admin_server, 1);
    s->path = g_strdup(path);
    s->api = api;
    s->cfg = cfg;
    s->soup = soup_server_new("server-header", "aulad/" PACKAGE_VERSION, NULL);
    soup_server_add_early_handler(s->soup, NULL, on_headers, s, NULL);
    soup_server_add_handler(s->soup, NULL, on_request, s, NULL);
    if (!soup_server_listen_socket(s->soup, sock, 0, error)) {
        g_prefix_error(error, "cannot serve %s: ", path);
        admin_server_free(s);
        return -EIO;
    }
    *serverp = s;
    return 0;
}

void admin_server_free(struct admin_server *s)
{
    if (s == NULL)
        return;
    soup_server_disconnect(s->soup);
    g_object_unref(s->soup);
    unlink(s->path);
    g_free(s->path);
    g_free(s);
}
