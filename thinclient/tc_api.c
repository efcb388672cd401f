/* thinclient/tc_api: the broker's client API, seen from aula-client (see
 * tc_api.h and docs/client-api.md). */
#include "config.h"

#include "thinclient/tc_api.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdarg.h>
#include <string.h>

#include "thinclient/tc_conf.h"

G_DEFINE_QUARK(aula-tc-api-error, tc_api_error)

#define API_PATH "/api/v1"
#define PORT_MAX 65535

struct tc_api {
    char *host;              /* the broker's host name or address, no brackets */
    int port;
    char *key;               /* "host:port" ("[v6]:port"), lower case: known_brokers' key */
    char *base;              /* "https://host:port/api/v1" */
    int timeout;             /* seconds */
    char *ca_file;
    GTlsDatabase *ca;        /* from ca_file, or NULL */
    char *pin;               /* the pinned fingerprint, or NULL */
    gboolean tofu;
    char *known_brokers;
    SoupSession *session;
    GMainContext *context;   /* the thread-default context of tc_api_new's time */
    char *token;             /* after a login; wiped when dropped */
    int retry_after;
    char *peer_fingerprint;  /* of the last call that reached the broker */
};

/* One request while it is on its way. */
struct call {
    struct tc_api *api;
    GCancellable *cancel;
    GBytes *body;
    GError *error;
    gboolean done;
    gboolean timed_out;
    int cert_code;           /* a certificate refused by check_certificate(): TC_ERR_* */
    char *cert_message;
};

/* The answer to one request. */
struct answer {
    guint status;
    JsonNode *json;          /* the body, when it is JSON; else NULL */
    char *retry_after;       /* the Retry-After header, or NULL */
};

G_GNUC_PRINTF(3, 4)
static int fail(GError **error, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (error != NULL && *error == NULL)
        *error = g_error_new_valist(TC_API_ERROR, code, fmt, ap);
    va_end(ap);
    return -code;
}

const char *tc_api_strerror(int code)
{
    switch (code < 0 ? -code : code) {
    case 0: return "Success";
    case TC_ERR_WRONG_PASSWORD: return "Wrong user name or password";
    case TC_ERR_NOT_LOGGED_IN: return "Not logged in (the login may have expired)";
    case TC_ERR_RATE_LIMITED: return "Too many attempts: wait and try again";
    case TC_ERR_NOT_ENTITLED: return "You may not use this pool";
    case TC_ERR_UNKNOWN_POOL: return "No such pool";
    case TC_ERR_POOL_EXHAUSTED: return "No desktop is free in this pool right now";
    case TC_ERR_REFUSED: return "The broker refused the request";
    case TC_ERR_BROKER_FAILED: return "The broker failed";
    case TC_ERR_UNREACHABLE: return "The broker cannot be reached";
    case TC_ERR_CERT_CHANGED: return "The broker's certificate has changed";
    case TC_ERR_CERT_UNTRUSTED: return "The broker's certificate is not trusted";
    case TC_ERR_PROTOCOL: return "The broker's answer makes no sense";
    case TC_ERR_CONFIG: return "The client's settings are wrong";
    }
    return "Unknown error";
}

/* Wipe and free a NUL-terminated secret (a GDestroyNotify). */
static void wipe_free(gpointer data)
{
    char *s = data;

    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    g_free(s);
}

/* "sha256:AB:CD:..." of cert's DER form, as aulad writes it. Caller frees. */
static char *cert_fingerprint(GTlsCertificate *cert)
{
    g_autoptr(GByteArray) der = NULL;
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    GString *out = g_string_new("sha256");
    guint8 digest[32];
    gsize len = sizeof(digest);

    g_object_get(cert, "certificate", &der, NULL);
    g_checksum_update(sum, der->data, der->len);
    g_checksum_get_digest(sum, digest, &len);
    for (gsize i = 0; i < len; i++)
        g_string_append_printf(out, ":%02X", digest[i]);
    return g_string_free(out, FALSE);
}

/* ---- the certificate ---- */

/* What is wrong with a certificate, by GLib's flags, as "a; b". Caller frees. */
static char *flags_text(GTlsCertificateFlags flags, const struct tc_api *api)
{
    const GTlsCertificateFlags known = G_TLS_CERTIFICATE_UNKNOWN_CA |
        G_TLS_CERTIFICATE_BAD_IDENTITY | G_TLS_CERTIFICATE_NOT_ACTIVATED |
        G_TLS_CERTIFICATE_EXPIRED | G_TLS_CERTIFICATE_REVOKED | G_TLS_CERTIFICATE_INSECURE;
    GString *out = g_string_new(NULL);

    if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA)
        g_string_append_printf(out, "; it is not signed by a CA in %s", api->ca_file);
    if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY)
        g_string_append_printf(out, "; it is not made for the host name %s", api->host);
    if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED)
        g_string_append(out, "; it is not valid yet (is this machine's clock right?)");
    if (flags & G_TLS_CERTIFICATE_EXPIRED)
        g_string_append(out, "; it has expired");
    if (flags & G_TLS_CERTIFICATE_REVOKED)
        g_string_append(out, "; it has been revoked");
    if (flags & G_TLS_CERTIFICATE_INSECURE)
        g_string_append(out, "; it uses an insecure algorithm");
    if (flags & ~known)
        g_string_append(out, "; it is not valid");
    if (out->len > 0)
        g_string_erase(out, 0, 2);
    return g_string_free(out, FALSE);
}

/* known_brokers' entry for api->key: *linep is its line (0: none) and
 * *storedp its fingerprint (caller frees); *textp is the whole file ("" when
 * it is missing; caller frees). Returns 0, or -TC_ERR_CONFIG with the reason
 * in *messagep when the file cannot be read or a line is malformed: a file
 * tofu cannot read must never look empty, or a changed certificate would be
 * trusted as new. */
static int known_lookup(const struct tc_api *api, char **textp, int *linep, char **storedp,
                        char **messagep)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    gsize len = 0;
    int n = 0;

    if (!g_file_get_contents(api->known_brokers, &text, &len, &err)) {
        if (!g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            *messagep = g_strdup_printf("cannot read known_brokers: %s; the broker's certificate "
                                        "cannot be checked", err->message);
            return -TC_ERR_CONFIG;
        }
        text = g_strdup("");
    }
    if (memchr(text, '\0', len) != NULL || !g_utf8_validate(text, (gssize)len, NULL)) {
        *messagep = g_strdup_printf("%s is not a text file", api->known_brokers);
        return -TC_ERR_CONFIG;
    }
    *linep = 0;
    *storedp = NULL;
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) fields = NULL;
        g_autofree char *fp = NULL;
        char *line = g_strstrip(*l);
        int nf = 0;

        n++;
        if (line[0] == '\0' || line[0] == '#')
            continue;
        fields = g_regex_split_simple("[ \t]+", line, 0, 0);
        nf = (int)g_strv_length(fields);
        if (nf == 2)
            fp = tc_conf_fingerprint_normalize(fields[1]);
        if (fp == NULL) {
            *messagep = g_strdup_printf("%s:%d: expected 'HOST:PORT sha256:AA:BB:...', got '%s'",
                                        api->known_brokers, n, line);
            g_clear_pointer(storedp, g_free);
            return -TC_ERR_CONFIG;
        }
        if (*linep == 0 && g_ascii_strcasecmp(fields[0], api->key) == 0) {
            *linep = n;
            *storedp = g_steal_pointer(&fp);
        }
    }
    *textp = g_steal_pointer(&text);
    return 0;
}

/* Append "key fingerprint" to known_brokers, atomically (a new file renamed
 * over the old), the file 0600 and a directory made for it 0700. */
static int known_store(const struct tc_api *api, const char *text, const char *fp,
                       char **messagep)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_path_get_dirname(api->known_brokers);
    g_autofree char *data = NULL;
    gsize len = strlen(text);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        *messagep = g_strdup_printf("cannot make the directory %s for known_brokers: %s", dir,
                                    g_strerror(errno));
        return -TC_ERR_CONFIG;
    }
    data = g_strdup_printf("%s%s%s %s\n", text, len > 0 && text[len - 1] != '\n' ? "\n" : "",
                           api->key, fp);
    if (!g_file_set_contents_full(api->known_brokers, data, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                  0600, &err)) {
        *messagep = g_strdup_printf("cannot store the broker's fingerprint: %s", err->message);
        return -TC_ERR_CONFIG;
    }
    return 0;
}

/* Trust on first use: the fingerprint stored for this broker must be fp;
 * with none stored, fp is stored. */
static int check_tofu(const struct tc_api *api, const char *fp, char **messagep)
{
    g_autofree char *text = NULL, *stored = NULL;
    int line = 0;
    int r = known_lookup(api, &text, &line, &stored, messagep);

    if (r < 0)
        return r;
    if (line > 0) {
        if (strcmp(stored, fp) == 0)
            return 0;
        *messagep = g_strdup_printf(
            "THE BROKER'S CERTIFICATE HAS CHANGED. %s presented the certificate %s, but the one "
            "trusted on first use is %s (%s line %d). Someone may be intercepting the "
            "connection: do not log in. If the broker's certificate was replaced on purpose, "
            "check the new fingerprint with its administrator and remove line %d of %s.",
            api->key, fp, stored, api->known_brokers, line, line, api->known_brokers);
        g_warning("%s: %s presented the certificate %s instead of %s (%s line %d): refused",
                  __func__, api->key, fp, stored, api->known_brokers, line);
        return -TC_ERR_CERT_CHANGED;
    }
    r = known_store(api, text, fp, messagep);
    if (r < 0)
        return r;
    g_message("trusting the certificate of %s on first use: %s, stored in %s", api->key, fp,
              api->known_brokers);
    return 0;
}

/* Whether to go on with the broker that presents cert (see tc_api.h): 0, or
 * -TC_ERR_* with a message for the user in *messagep (caller frees). */
static int check_certificate(const struct tc_api *api, GTlsCertificate *cert, char **messagep)
{
    g_autofree char *fp = cert_fingerprint(cert);

    if (api->pin == NULL && api->ca == NULL) {
        if (api->tofu)
            return check_tofu(api, fp, messagep);
        *messagep = g_strdup_printf(
            "the certificate of %s cannot be checked: none of ca_file, fingerprint and tofu is "
            "set. Its fingerprint is %s; if that is the one the broker's administrator gives "
            "(aulad logs it, `aulactl status` shows it), pin it with fingerprint = %s in "
            "client.conf or --fingerprint.", api->key, fp, fp);
        return -TC_ERR_CERT_UNTRUSTED;
    }
    if (api->pin != NULL && strcmp(fp, api->pin) != 0) {
        *messagep = g_strdup_printf(
            "THE BROKER'S CERTIFICATE IS NOT THE PINNED ONE. %s presented the certificate %s, "
            "but the fingerprint setting is %s. Someone may be intercepting the connection: do "
            "not log in. If the broker's certificate was replaced on purpose, ask its "
            "administrator for the new fingerprint.", api->key, fp, api->pin);
        g_warning("%s: %s presented the certificate %s, not the pinned %s: refused", __func__,
                  api->key, fp, api->pin);
        return -TC_ERR_CERT_CHANGED;
    }
    if (api->ca != NULL) {
        g_autoptr(GSocketConnectable) identity = g_network_address_new(api->host,
                                                                       (guint16)api->port);
        g_autoptr(GError) err = NULL;
        GTlsCertificateFlags flags;

        flags = g_tls_database_verify_chain(api->ca, cert,
                                            G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, identity,
                                            NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &err);
        if (err != NULL) {
            *messagep = g_strdup_printf("cannot check the certificate of %s against %s: %s",
                                        api->key, api->ca_file, err->message);
            return -TC_ERR_CERT_UNTRUSTED;
        }
        if (flags != 0) {
            g_autofree char *why = flags_text(flags, api);

            *messagep = g_strdup_printf("the certificate of %s (%s) is not trusted: %s", api->key,
                                        fp, why);
            return -TC_ERR_CERT_UNTRUSTED;
        }
    }
    return 0;
}

/* SoupMessage::accept-certificate. GLib checks nothing itself (the session
 * has no TLS database), so this runs for every new connection, and its
 * answer is the only one. */
static gboolean on_accept_certificate(SoupMessage *msg, GTlsCertificate *cert,
                                      GTlsCertificateFlags errors, gpointer data)
{
    struct call *c = data;
    char *message = NULL;
    int r = check_certificate(c->api, cert, &message);

    g_free(c->api->peer_fingerprint);
    c->api->peer_fingerprint = cert_fingerprint(cert);
    if (r == 0)
        return TRUE;
    c->cert_code = -r;
    g_free(c->cert_message);
    c->cert_message = message;
    return FALSE;
}

/* ---- requests ---- */

static void on_done(GObject *source, GAsyncResult *res, gpointer data)
{
    struct call *c = data;

    c->body = soup_session_send_and_read_finish(SOUP_SESSION(source), res, &c->error);
    c->done = TRUE;
}

static gboolean on_timeout(gpointer data)
{
    struct call *c = data;

    c->timed_out = TRUE;
    g_cancellable_cancel(c->cancel);
    return G_SOURCE_REMOVE;
}

/* Why a request got no answer, as TC_ERR_* with a message. */
static int transport_error(const struct tc_api *api, const struct call *c, GError **error)
{
    const GError *e = c->error;

    if (c->cert_code != 0)
        return fail(error, c->cert_code, "%s", c->cert_message);
    if (c->timed_out)
        return fail(error, TC_ERR_UNREACHABLE, "the broker %s did not answer within %d seconds",
                    api->key, api->timeout);
    if (e->domain == G_RESOLVER_ERROR)
        return fail(error, TC_ERR_UNREACHABLE, "cannot find the broker %s: %s", api->host,
                    e->message);
    if (g_error_matches(e, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE))
        return fail(error, TC_ERR_CERT_UNTRUSTED, "the certificate of %s was refused: %s",
                    api->key, e->message);
    if (g_error_matches(e, G_TLS_ERROR, G_TLS_ERROR_NOT_TLS))
        return fail(error, TC_ERR_PROTOCOL, "%s does not speak TLS: is it the broker's client "
                    "API port?", api->key);
    if (e->domain == G_TLS_ERROR)
        return fail(error, TC_ERR_PROTOCOL, "TLS with %s failed: %s", api->key, e->message);
    if (e->domain == SOUP_SESSION_ERROR)
        return fail(error, TC_ERR_PROTOCOL, "the answer of %s is not HTTP: %s", api->key,
                    e->message);
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        return fail(error, TC_ERR_UNREACHABLE, "the broker %s did not answer within %d seconds",
                    api->key, api->timeout);
    return fail(error, TC_ERR_UNREACHABLE, "cannot reach the broker %s: %s", api->key,
                e->message);
}

/* Take the body's bytes, parse them if they are JSON, and wipe them: they may
 * hold a token or a ticket. */
static JsonNode *parse_body(GBytes *body)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    gsize len = 0;
    char *data = g_bytes_unref_to_data(body, &len);
    JsonNode *root = NULL;

    if (data == NULL) /* an empty body */
        return NULL;
    if (len > 0 && json_parser_load_from_data(parser, data, (gssize)len, NULL))
        root = json_node_copy(json_parser_get_root(parser));
    explicit_bzero(data, len);
    g_free(data);
    return root;
}

/* Send method path (under /api/v1) with body (or none) and, when with_token,
 * the login's token, and wait for the answer. Returns 0 with *ans filled (any
 * HTTP status), or -TC_ERR_* when no answer came. */
static int request(struct tc_api *api, const char *method, const char *path, JsonBuilder *body,
                   gboolean with_token, struct answer *ans, GError **error)
{
    g_autofree char *uri = g_strconcat(api->base, path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    struct call c = { .api = api };
    SoupMessageHeaders *headers;
    GTlsCertificate *peer;
    GSource *timer = NULL;
    const char *retry;
    int r;

    api->retry_after = 0;
    if (msg == NULL)
        return fail(error, TC_ERR_CONFIG, "cannot make a URL of the broker's address %s",
                    api->key);
    soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
    g_signal_connect(msg, "accept-certificate", G_CALLBACK(on_accept_certificate), &c);
    headers = soup_message_get_request_headers(msg);
    soup_message_headers_replace(headers, "Accept", "application/json");
    if (with_token) {
        char *value = g_strconcat("Bearer ", api->token, NULL);

        soup_message_headers_replace(headers, "Authorization", value);
        wipe_free(value);
    }
    if (body != NULL) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(body);
        char *text;
        g_autoptr(GBytes) bytes = NULL;

        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        /* It may hold the password: wiped when libsoup is done with it. */
        bytes = g_bytes_new_with_free_func(text, strlen(text), wipe_free, text);
        soup_message_set_request_body_from_bytes(msg, "application/json", bytes);
    }

    g_main_context_push_thread_default(api->context);
    c.cancel = g_cancellable_new();
    timer = g_timeout_source_new((guint)api->timeout * 1000);
    g_source_set_callback(timer, on_timeout, &c, NULL);
    g_source_attach(timer, api->context);
    soup_session_send_and_read_async(api->session, msg, G_PRIORITY_DEFAULT, c.cancel, on_done, &c);
    while (!c.done)
        g_main_context_iteration(api->context, TRUE);
    g_source_destroy(timer);
    g_source_unref(timer);
    g_main_context_pop_thread_default(api->context);
    g_signal_handlers_disconnect_by_data(msg, &c);

    /* The certificate of the connection used: checked when the connection
     * was made (a connection kept from an earlier call is not checked again). */
    peer = soup_message_get_tls_peer_certificate(msg);
    if (peer != NULL) {
        g_free(api->peer_fingerprint);
        api->peer_fingerprint = cert_fingerprint(peer);
    }
    if (c.error != NULL) {
        r = transport_error(api, &c, error);
        goto out;
    }
    ans->status = soup_message_get_status(msg);
    ans->json = parse_body(g_steal_pointer(&c.body));
    retry = soup_message_headers_get_one(soup_message_get_response_headers(msg), "Retry-After");
    ans->retry_after = g_strdup(retry);
    r = 0;
out:
    if (c.body != NULL)
        g_bytes_unref(c.body);
    g_clear_error(&c.error);
    g_free(c.cert_message);
    g_object_unref(c.cancel);
    return r;
}

static void answer_clear(struct answer *ans)
{
    if (ans->json != NULL)
        json_node_unref(ans->json);
    g_free(ans->retry_after);
    memset(ans, 0, sizeof(*ans));
}

/* The broker's message in an error answer, {"error": "..."}, with control
 * characters made spaces; or a description of the status. Caller frees. */
static char *error_text(const struct answer *ans)
{
    if (ans->json != NULL && JSON_NODE_HOLDS_OBJECT(ans->json)) {
        JsonObject *o = json_node_get_object(ans->json);
        JsonNode *m = json_object_get_member(o, "error");

        if (m != NULL && JSON_NODE_HOLDS_VALUE(m) &&
            json_node_get_value_type(m) == G_TYPE_STRING) {
            char *text = g_strdup(json_node_get_string(m));

            for (char *p = text; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = ' ';
            return text;
        }
    }
    return g_strdup_printf("HTTP status %u (%s)", ans->status,
                           soup_status_get_phrase(ans->status));
}

enum route { ROUTE_LOGIN, ROUTE_POOLS, ROUTE_CONNECT, ROUTE_LOGOUT };

/* A status other than the route's success as TC_ERR_*, with the broker's
 * message. */
static int status_error(struct tc_api *api, enum route route, const struct answer *ans,
                        GError **error)
{
    g_autofree char *text = error_text(ans);
    guint s = ans->status;

    if (s == 401)
        return fail(error, route == ROUTE_LOGIN ? TC_ERR_WRONG_PASSWORD : TC_ERR_NOT_LOGGED_IN,
                    "%s", text);
    if (s == 403)
        return fail(error, TC_ERR_NOT_ENTITLED, "%s", text);
    if (s == 404 && route == ROUTE_CONNECT)
        return fail(error, TC_ERR_UNKNOWN_POOL, "%s", text);
    if (s == 404)
        return fail(error, TC_ERR_PROTOCOL, "%s has no aula client API here (%s): is it an "
                    "aula broker, of a version that speaks " API_PATH "?", api->key, text);
    if (s == 429) {
        gint64 n = 0;

        if (ans->retry_after != NULL &&
            g_ascii_string_to_signed(ans->retry_after, 10, 0, G_MAXINT, &n, NULL))
            api->retry_after = (int)n;
        return fail(error, TC_ERR_RATE_LIMITED, "%s", text);
    }
    if (s == 503 && route == ROUTE_CONNECT)
        return fail(error, TC_ERR_POOL_EXHAUSTED, "%s", text);
    if (s >= 500 && s < 600)
        return fail(error, TC_ERR_BROKER_FAILED, "%s", text);
    if (s >= 400 && s < 500)
        return fail(error, TC_ERR_REFUSED, "%s", text);
    return fail(error, TC_ERR_PROTOCOL, "unexpected answer from %s: %s", api->key, text);
}

/* ---- reading the answers ---- */

static JsonNode *member(JsonObject *o, const char *name, GType type)
{
    JsonNode *m = o != NULL ? json_object_get_member(o, name) : NULL;

    if (m == NULL || !JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != type)
        return NULL;
    return m;
}

/* A string member that is not empty and holds no control character, or NULL. */
static const char *member_text(JsonObject *o, const char *name)
{
    JsonNode *m = member(o, name, G_TYPE_STRING);
    const char *s = m != NULL ? json_node_get_string(m) : NULL;

    if (s == NULL || s[0] == '\0')
        return NULL;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return NULL;
    return s;
}

static gboolean member_int(JsonObject *o, const char *name, gint64 min, gint64 max, gint64 *vp)
{
    JsonNode *m = member(o, name, G_TYPE_INT64);

    if (m == NULL || json_node_get_int(m) < min || json_node_get_int(m) > max)
        return FALSE;
    *vp = json_node_get_int(m);
    return TRUE;
}

static gboolean member_bool(JsonObject *o, const char *name, gboolean *vp)
{
    JsonNode *m = member(o, name, G_TYPE_BOOLEAN);

    if (m == NULL)
        return FALSE;
    *vp = json_node_get_boolean(m);
    return TRUE;
}

static JsonObject *answer_object(const struct answer *ans)
{
    return ans->json != NULL && JSON_NODE_HOLDS_OBJECT(ans->json)
        ? json_node_get_object(ans->json) : NULL;
}

static int bad_answer(const struct tc_api *api, const char *what, const char *why, GError **error)
{
    return fail(error, TC_ERR_PROTOCOL, "the answer of %s to %s is not what the client API "
                "promises: %s", api->key, what, why);
}

/* ---- the API ---- */

int tc_api_new(const struct tc_conf *cfg, struct tc_api **apip, GError **error)
{
    struct tc_api *api = NULL;
    g_autoptr(GSocketConnectable) direct = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *url_host = NULL;
    int r = -TC_ERR_CONFIG;

    if (cfg->broker_host == NULL) {
        r = fail(error, TC_ERR_CONFIG, "no broker is set: give --broker HOST[:PORT], or set "
                 "broker in " TC_CONF_DEFAULT_PATH);
        goto out;
    }
    api = g_new0(struct tc_api, 1);
    api->port = cfg->broker_port;
    api->timeout = cfg->timeout > 0 ? cfg->timeout : 15;
    api->tofu = cfg->tofu;
    api->known_brokers = g_strdup(cfg->known_brokers);
    api->pin = g_strdup(cfg->fingerprint);
    api->ca_file = g_strdup(cfg->ca_file);
    if (g_hostname_is_ip_address(cfg->broker_host)) {
        /* An address: written canonically (so that known_brokers has one key
         * per broker), and connected to directly, which keeps it out of the
         * TLS SNI (see tc_api.h). */
        g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(cfg->broker_host);

        if (addr == NULL) {
            r = fail(error, TC_ERR_CONFIG, "the broker address %s is not usable",
                     cfg->broker_host);
            goto out;
        }
        api->host = g_inet_address_to_string(addr);
        direct = G_SOCKET_CONNECTABLE(g_inet_socket_address_new(addr, (guint16)api->port));
    } else {
        api->host = g_ascii_strdown(cfg->broker_host, -1);
    }
    if (strchr(api->host, ':') != NULL) {
        g_autofree char *escaped = g_uri_escape_string(api->host, ":", FALSE);

        api->key = g_strdup_printf("[%s]:%d", api->host, api->port);
        url_host = g_strdup_printf("[%s]", escaped);
    } else {
        api->key = g_strdup_printf("%s:%d", api->host, api->port);
        url_host = g_strdup(api->host);
    }
    api->base = g_strdup_printf("https://%s:%d" API_PATH, url_host, api->port);
    if (api->ca_file != NULL) {
        api->ca = g_tls_file_database_new(api->ca_file, &err);
        if (api->ca == NULL) {
            r = fail(error, TC_ERR_CONFIG, "ca_file %s: %s", api->ca_file, err->message);
            goto out;
        }
    }
    api->context = g_main_context_ref_thread_default();
    api->session = soup_session_new_with_options("user-agent", "aula-client/" PACKAGE_VERSION,
                                                 "timeout", (guint)api->timeout,
                                                 "remote-connectable", direct, NULL);
    /* No TLS database: GLib accepts nothing by itself, and every certificate
     * comes to on_accept_certificate(), even one the system's CAs would
     * vouch for (a pinned fingerprint must hold all the same). */
    soup_session_set_tls_database(api->session, NULL);
    *apip = api;
    api = NULL;
    r = 0;
out:
    tc_api_free(api);
    return r;
}

/* Forget the token, wiping it. */
static void drop_token(struct tc_api *api)
{
    wipe_free(api->token);
    api->token = NULL;
}

void tc_api_free(struct tc_api *api)
{
    if (api == NULL)
        return;
    drop_token(api);
    g_clear_object(&api->session);
    g_clear_object(&api->ca);
    if (api->context != NULL)
        g_main_context_unref(api->context);
    g_free(api->host);
    g_free(api->key);
    g_free(api->base);
    g_free(api->ca_file);
    g_free(api->pin);
    g_free(api->known_brokers);
    g_free(api->peer_fingerprint);
    g_free(api);
}

gboolean tc_api_logged_in(const struct tc_api *api)
{
    return api->token != NULL;
}

int tc_api_retry_after(const struct tc_api *api)
{
    return api->retry_after;
}

const char *tc_api_peer_fingerprint(const struct tc_api *api)
{
    return api->peer_fingerprint;
}

/* A token goes into an HTTP header: printable ASCII only. */
static gboolean token_valid(const char *token)
{
    for (const char *p = token; *p; p++)
        if (!g_ascii_isgraph(*p))
            return FALSE;
    return TRUE;
}

int tc_api_login(struct tc_api *api, const char *user, const char *password, int64_t *expiresp,
                 GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    struct answer ans = { 0 };
    const char *token;
    gint64 expires = 0;
    int r;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "username");
    json_builder_add_string_value(b, user);
    json_builder_set_member_name(b, "password");
    json_builder_add_string_value(b, password);
    json_builder_end_object(b);
    r = request(api, "POST", "/login", b, FALSE, &ans, error);
    if (r < 0)
        goto out;
    if (ans.status != SOUP_STATUS_OK) {
        r = status_error(api, ROUTE_LOGIN, &ans, error);
        goto out;
    }
    token = member_text(answer_object(&ans), "token");
    if (token == NULL || !token_valid(token)) {
        r = bad_answer(api, "a login", "no usable token", error);
        goto out;
    }
    if (!member_int(answer_object(&ans), "expires", 0, G_MAXINT64, &expires)) {
        r = bad_answer(api, "a login", "no expiry", error);
        goto out;
    }
    drop_token(api);
    api->token = g_strdup(token);
    if (expiresp != NULL)
        *expiresp = expires;
    r = 0;
out:
    answer_clear(&ans);
    return r;
}

void tc_pool_free(struct tc_pool *pool)
{
    if (pool == NULL)
        return;
    g_free(pool->name);
    g_strfreev(pool->protocols);
    g_free(pool->own_vm);
    g_free(pool);
}

/* One element of the pools answer; NULL when it is not well formed. */
static struct tc_pool *pool_from_json(JsonNode *node)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    JsonNode *protocols = o != NULL ? json_object_get_member(o, "protocols") : NULL;
    JsonNode *own = o != NULL ? json_object_get_member(o, "own_vm") : NULL;
    g_autoptr(GStrvBuilder) names = g_strv_builder_new();
    struct tc_pool *pool = g_new0(struct tc_pool, 1);
    gint64 spares = 0;
    const char *name = member_text(o, "name");

    if (name == NULL || protocols == NULL || !JSON_NODE_HOLDS_ARRAY(protocols) ||
        !member_bool(o, "available", &pool->available) ||
        !member_int(o, "ready_spares", 0, G_MAXINT, &spares))
        goto bad;
    /* Older brokers may lack these two; they mean nothing is known. */
    member_bool(o, "persistent", &pool->persistent);
    if (own != NULL && !JSON_NODE_HOLDS_NULL(own)) {
        const char *vm = member_text(o, "own_vm");

        if (vm == NULL)
            goto bad;
        pool->own_vm = g_strdup(vm);
    }
    for (guint i = 0; i < json_array_get_length(json_node_get_array(protocols)); i++) {
        JsonNode *p = json_array_get_element(json_node_get_array(protocols), i);

        if (!JSON_NODE_HOLDS_VALUE(p) || json_node_get_value_type(p) != G_TYPE_STRING)
            goto bad;
        g_strv_builder_add(names, json_node_get_string(p));
    }
    pool->name = g_strdup(name);
    pool->protocols = g_strv_builder_end(names);
    pool->ready_spares = (int)spares;
    return pool;
bad:
    tc_pool_free(pool);
    return NULL;
}

int tc_api_pools(struct tc_api *api, GPtrArray **poolsp, GError **error)
{
    g_autoptr(GPtrArray) pools = g_ptr_array_new_with_free_func((GDestroyNotify)tc_pool_free);
    struct answer ans = { 0 };
    JsonNode *list;
    JsonArray *array;
    int r;

    if (api->token == NULL)
        return fail(error, TC_ERR_NOT_LOGGED_IN, "log in first");
    r = request(api, "GET", "/pools", NULL, TRUE, &ans, error);
    if (r < 0)
        goto out;
    if (ans.status != SOUP_STATUS_OK) {
        r = status_error(api, ROUTE_POOLS, &ans, error);
        goto out;
    }
    list = answer_object(&ans) != NULL ? json_object_get_member(answer_object(&ans), "pools")
                                       : NULL;
    if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list)) {
        r = bad_answer(api, "the list of pools", "no 'pools' array", error);
        goto out;
    }
    array = json_node_get_array(list);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        struct tc_pool *pool = pool_from_json(json_array_get_element(array, i));

        if (pool == NULL) {
            g_autofree char *why = g_strdup_printf("pool %u is malformed", i + 1);

            r = bad_answer(api, "the list of pools", why, error);
            goto out;
        }
        g_ptr_array_add(pools, pool);
    }
    *poolsp = g_steal_pointer(&pools);
    r = 0;
out:
    answer_clear(&ans);
    return r;
}

void tc_ticket_free(struct tc_ticket *ticket)
{
    if (ticket == NULL)
        return;
    g_free(ticket->protocol);
    g_free(ticket->host);
    wipe_free(ticket->ticket);
    g_free(ticket);
}

int tc_api_connect(struct tc_api *api, const char *pool, const char *protocol,
                   struct tc_ticket **ticketp, GError **error)
{
    g_autoptr(JsonBuilder) b = NULL;
    g_autofree char *path = NULL, *escaped = NULL;
    struct tc_ticket *t = NULL;
    struct answer ans = { 0 };
    JsonObject *o;
    const char *text;
    gint64 port = 0, expires = 0;
    int r;

    if (api->token == NULL)
        return fail(error, TC_ERR_NOT_LOGGED_IN, "log in first");
    /* "." and ".." would be taken as path steps, not as a name. */
    if (pool == NULL || pool[0] == '\0' || strcmp(pool, ".") == 0 || strcmp(pool, "..") == 0)
        return fail(error, TC_ERR_UNKNOWN_POOL, "unknown pool '%s'", pool ? pool : "");
    escaped = g_uri_escape_string(pool, NULL, FALSE);
    path = g_strdup_printf("/pools/%s/connect", escaped);
    if (protocol != NULL) {
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "protocol");
        json_builder_add_string_value(b, protocol);
        json_builder_end_object(b);
    }
    r = request(api, "POST", path, b, TRUE, &ans, error);
    if (r < 0)
        goto out;
    if (ans.status != SOUP_STATUS_OK) {
        r = status_error(api, ROUTE_CONNECT, &ans, error);
        goto out;
    }
    o = answer_object(&ans);
    t = g_new0(struct tc_ticket, 1);
    text = member_text(o, "protocol");
    if (text == NULL || (strcmp(text, "rdp") != 0 && strcmp(text, "vnc") != 0)) {
        r = bad_answer(api, "a ticket request", "no protocol rdp or vnc", error);
        goto out;
    }
    t->protocol = g_strdup(text);
    text = member_text(o, "host");
    if (text == NULL) {
        r = bad_answer(api, "a ticket request", "no host", error);
        goto out;
    }
    t->host = g_strdup(text);
    if (!member_int(o, "port", 1, PORT_MAX, &port)) {
        r = bad_answer(api, "a ticket request", "no port from 1 to 65535", error);
        goto out;
    }
    t->port = (int)port;
    text = member_text(o, "ticket");
    if (text == NULL) {
        r = bad_answer(api, "a ticket request", "no ticket", error);
        goto out;
    }
    t->ticket = g_strdup(text);
    if (!member_int(o, "expires", 0, G_MAXINT64, &expires)) {
        r = bad_answer(api, "a ticket request", "no expiry", error);
        goto out;
    }
    t->expires = expires;
    *ticketp = t;
    t = NULL;
    r = 0;
out:
    tc_ticket_free(t);
    answer_clear(&ans);
    return r;
}

int tc_api_logout(struct tc_api *api, GError **error)
{
    struct answer ans = { 0 };
    int r;

    if (api->token == NULL)
        return 0;
    r = request(api, "POST", "/logout", NULL, TRUE, &ans, error);
    drop_token(api);
    if (r < 0)
        goto out;
    /* 401: the broker has forgotten the token already (expired, or a restart). */
    if (ans.status != SOUP_STATUS_NO_CONTENT && ans.status != SOUP_STATUS_UNAUTHORIZED)
        r = status_error(api, ROUTE_LOGOUT, &ans, error);
out:
    answer_clear(&ans);
    return r;
}
