/* aulactl: the admin CLI. It speaks HTTP + JSON to aulad's admin socket and
 * holds no state of its own. */
#include "config.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_SOCKET RUNSTATEDIR "/aula/admin.sock"

/* Exit codes (documented in aulactl(1)). */
enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1,     /* aulad refused: bad value, conflict, object in use */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_NOT_FOUND = 3,   /* unknown user, group, template or pool */
    EXIT_DENIED = 4,      /* not root nor in admin_group */
    EXIT_UNREACHABLE = 5, /* cannot reach aulad, or it answered nonsense */
};

/* ---- options (every command sees the global ones) ---- */

static char *opt_socket;
static gboolean opt_json;
static gboolean opt_version;
static char *opt_full_name;
static gboolean opt_password_stdin;
static char *opt_disk;
static char *opt_memory;
static char *opt_vcpus;
static char *opt_video;
static char *opt_firmware;
static char *opt_os;
static char *opt_template;
static char *opt_min;
static char *opt_max;
static char *opt_spare;
static gboolean opt_persistent_flag;
static char *opt_persistent;
static char *opt_clone;
static char *opt_protocols;
static char *opt_disconnect_timeout;
static char *opt_idle_timeout;
static char *opt_user;
static char *opt_group;
static char *opt_pool;
static char *opt_since;
static char *opt_limit;
static gboolean opt_all;
static char *opt_kernel;
static char *opt_initrd;
static char *opt_cmdline;
static char *opt_network;
static char *opt_vlan;
static char *opt_state;

static const GOptionEntry global_entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
      "aulad's admin socket (default $AULA_SOCKET, else " DEFAULT_SOCKET ")", "PATH" },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON instead of a table", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL },
};

#define E_PASSWORD_STDIN                                                                    \
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &opt_password_stdin,                       \
      "Read the password from the first line of standard input instead of the terminal", NULL }
#define E_POOL_SIZES                                                                        \
    { "min", 0, 0, G_OPTION_ARG_STRING, &opt_min, "VMs the pool always keeps", "N" },       \
    { "max", 0, 0, G_OPTION_ARG_STRING, &opt_max, "Most VMs the pool may have", "N" },      \
    { "spare", 0, 0, G_OPTION_ARG_STRING, &opt_spare, "Booted VMs kept ready for logins", "N" }, \
    { "protocols", 0, 0, G_OPTION_ARG_STRING, &opt_protocols,                               \
      "Protocols users may connect with: rdp, vnc or rdp,vnc", "LIST" },                    \
    { "disconnect-timeout", 0, 0, G_OPTION_ARG_STRING, &opt_disconnect_timeout,             \
      "How long a disconnected desktop is kept for its user (e.g. 300, 5m, 1h)", "TIME" },  \
    { "idle-timeout", 0, 0, G_OPTION_ARG_STRING, &opt_idle_timeout,                         \
      "Log off sessions idle this long (0: never)", "TIME" },                               \
    { "network", 0, 0, G_OPTION_ARG_STRING, &opt_network,                                   \
      "network:NAME (a libvirt network, default network:default), bridge:DEVICE or none", "NET" }, \
    { "vlan", 0, 0, G_OPTION_ARG_STRING, &opt_vlan, "802.1Q tag on a bridge (0: none)", "TAG" }

static const GOptionEntry user_add_entries[] = {
    { "full-name", 0, 0, G_OPTION_ARG_STRING, &opt_full_name, "The user's full name", "TEXT" },
    E_PASSWORD_STDIN,
    { NULL },
};
static const GOptionEntry password_entries[] = { E_PASSWORD_STDIN, { NULL } };
static const GOptionEntry template_add_entries[] = {
    { "disk", 0, 0, G_OPTION_ARG_FILENAME, &opt_disk, "The template's qcow2 disk image (required)", "FILE" },
    { "memory", 0, 0, G_OPTION_ARG_STRING, &opt_memory, "Memory per VM, e.g. 2G or 1536M (default 2G)", "SIZE" },
    { "vcpus", 0, 0, G_OPTION_ARG_STRING, &opt_vcpus, "Virtual CPUs per VM (default 2)", "N" },
    { "video", 0, 0, G_OPTION_ARG_STRING, &opt_video, "Video model: virtio, qxl or vga (default virtio)", "MODEL" },
    { "firmware", 0, 0, G_OPTION_ARG_STRING, &opt_firmware, "bios or uefi (default bios)", "TYPE" },
    { "os", 0, 0, G_OPTION_ARG_STRING, &opt_os, "Guest OS type: linux or windows (default linux)", "TYPE" },
    { "kernel", 0, 0, G_OPTION_ARG_FILENAME, &opt_kernel, "Boot this kernel directly instead of the disk's boot loader", "FILE" },
    { "initrd", 0, 0, G_OPTION_ARG_FILENAME, &opt_initrd, "Initial ramdisk for --kernel", "FILE" },
    { "cmdline", 0, 0, G_OPTION_ARG_STRING, &opt_cmdline, "Kernel command line for --kernel", "TEXT" },
    { NULL },
};
static const GOptionEntry pool_create_entries[] = {
    { "template", 0, 0, G_OPTION_ARG_STRING, &opt_template, "Template to clone (required)", "NAME" },
    E_POOL_SIZES,
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &opt_persistent_flag,
      "Each user keeps their own VM (default: VMs are reset to the template on logoff)", NULL },
    { "clone", 0, 0, G_OPTION_ARG_STRING, &opt_clone,
      "linked (qcow2 overlays, the default) or full (independent copies)", "MODE" },
    { NULL },
};
static const GOptionEntry pool_set_entries[] = {
    E_POOL_SIZES,
    { "persistent", 0, 0, G_OPTION_ARG_STRING, &opt_persistent, "yes or no", "yes|no" },
    { NULL },
};
static const GOptionEntry entitle_entries[] = {
    { "user", 0, 0, G_OPTION_ARG_STRING, &opt_user, "The user", "NAME" },
    { "group", 0, 0, G_OPTION_ARG_STRING, &opt_group, "The group (instead of --user)", "NAME" },
    { "pool", 0, 0, G_OPTION_ARG_STRING, &opt_pool, "The pool (required)", "NAME" },
    { NULL },
};
static const GOptionEntry vm_list_entries[] = {
    { "pool", 0, 0, G_OPTION_ARG_STRING, &opt_pool, "Only the VMs of this pool", "NAME" },
    { "state", 0, 0, G_OPTION_ARG_STRING, &opt_state,
      "Only VMs in this state (provisioning, stopped, starting, ready, assigned, in_use, recycling, error)", "STATE" },
    { NULL },
};
static const GOptionEntry allocate_entries[] = {
    { "user", 0, 0, G_OPTION_ARG_STRING, &opt_user, "The user to give a desktop to (required)", "NAME" },
    { NULL },
};
static const GOptionEntry session_entries[] = {
    { "all", 0, 0, G_OPTION_ARG_NONE, &opt_all, "Include logged-off sessions", NULL },
    { NULL },
};
static const GOptionEntry audit_entries[] = {
    { "since", 0, 0, G_OPTION_ARG_STRING, &opt_since,
      "Entries from this time on: YYYY-MM-DD[THH:MM[:SS]] (local time), or an age such as 30m, 2h, 7d", "WHEN" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &opt_user, "Entries about this user", "NAME" },
    { "pool", 0, 0, G_OPTION_ARG_STRING, &opt_pool, "Entries about this pool", "NAME" },
    { "limit", 0, 0, G_OPTION_ARG_STRING, &opt_limit, "At most N entries, the newest (default 100; 0: all)", "N" },
    { NULL },
};

/* ---- talking to aulad ---- */

struct client {
    SoupSession *session;
    char *socket;
};

struct reply {
    guint status;
    JsonNode *root; /* parsed body, or NULL */
};

static void reply_clear(struct reply *r)
{
    g_clear_pointer(&r->root, json_node_unref);
}

static int fail_usage(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("aulactl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (try --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* Send a request; body may be NULL. Exits the process if aulad cannot be reached. */
static int request(struct client *c, const char *method, const char *path, JsonBuilder *body,
                   struct reply *out)
{
    g_autofree char *uri = g_strconcat("http://aulad", path, NULL);
    g_autoptr(SoupMessage) msg = soup_message_new(method, uri);
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    gsize len = 0;
    const char *data;

    if (msg == NULL) {
        fprintf(stderr, "aulactl: cannot build a request for %s\n", path);
        return EXIT_USAGE;
    }
    if (body) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(body);
        gsize n = 0;
        char *text;

        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, &n);
        soup_message_set_request_body_from_bytes(msg, "application/json",
                                                 g_bytes_new_take(text, n));
    }
    bytes = soup_session_send_and_read(c->session, msg, NULL, &err);
    if (bytes == NULL) {
        fprintf(stderr, "aulactl: cannot reach aulad at %s: %s (is aulad running? "
                        "--socket PATH or AULA_SOCKET name another socket)\n",
                c->socket, err->message);
        return EXIT_UNREACHABLE;
    }
    out->status = soup_message_get_status(msg);
    data = g_bytes_get_data(bytes, &len);
    if (len > 0 && json_parser_load_from_data(parser, data, (gssize)len, NULL) &&
        json_parser_get_root(parser) != NULL)
        out->root = json_node_copy(json_parser_get_root(parser));
    if (out->root == NULL) {
        fprintf(stderr, "aulactl: aulad at %s answered %u without a JSON body\n", c->socket,
                out->status);
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

/* Turn an error reply into a one-line message and an exit code. */
static int report_error(const struct reply *r)
{
    const char *message = NULL;

    if (JSON_NODE_HOLDS_OBJECT(r->root)) {
        JsonObject *o = json_node_get_object(r->root);
        JsonObject *e = json_object_get_object_member(o, "error");
        if (e && json_object_has_member(e, "message"))
            message = json_object_get_string_member(e, "message");
    }
    fprintf(stderr, "aulactl: %s\n", message ? message : "aulad refused the request");
    switch (r->status) {
    case 403:
        return EXIT_DENIED;
    case 404:
        return EXIT_NOT_FOUND;
    default:
        return r->status >= 500 ? EXIT_UNREACHABLE : EXIT_REFUSED;
    }
}

static void print_json(JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autofree char *text = NULL;

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

/* Do a request whose answer is a message: print it (or the JSON) and exit accordingly. */
static int change(struct client *c, const char *method, const char *path, JsonBuilder *body)
{
    struct reply r = { 0 };
    int code = request(c, method, path, body, &r);

    if (code == EXIT_OK && r.status >= 300)
        code = report_error(&r);
    else if (code == EXIT_OK && opt_json)
        print_json(r.root);
    else if (code == EXIT_OK)
        printf("%s\n", json_object_get_string_member_with_default(json_node_get_object(r.root),
                                                                  "message", "done"));
    reply_clear(&r);
    return code;
}

/* GET path; on success *rootp holds the body (caller unrefs). */
static int fetch(struct client *c, const char *path, JsonNode **rootp)
{
    struct reply r = { 0 };
    int code = request(c, "GET", path, NULL, &r);

    if (code == EXIT_OK && r.status >= 300)
        code = report_error(&r);
    if (code == EXIT_OK) {
        *rootp = r.root;
        r.root = NULL;
    }
    reply_clear(&r);
    return code;
}

/* GET path for a command that shows it: with --json the answer is printed
 * here and *rootp stays NULL; else *rootp is the answer to render. */
static int fetch_table(struct client *c, const char *path, JsonNode **rootp)
{
    JsonNode *root = NULL;
    int code = fetch(c, path, &root);

    if (code == EXIT_OK && opt_json) {
        print_json(root);
        json_node_unref(root);
    } else if (code == EXIT_OK) {
        *rootp = root;
    }
    return code;
}

/* ---- output helpers ---- */

struct table {
    guint ncols;
    GPtrArray *rows; /* of GStrv */
};

static struct table *table_new(const char *const *headers)
{
    struct table *t = g_new0(struct table, 1);

    t->ncols = g_strv_length((char **)headers);
    t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_ptr_array_add(t->rows, g_strdupv((char **)headers));
    return t;
}

/* Add a row of ncols strings (NULL shows as "-"). */
static void table_row(struct table *t, ...)
{
    char **row = g_new0(char *, t->ncols + 1);
    va_list ap;

    va_start(ap, t);
    for (guint i = 0; i < t->ncols; i++) {
        const char *v = va_arg(ap, const char *);
        row[i] = g_strdup(v && *v ? v : "-");
    }
    va_end(ap);
    g_ptr_array_add(t->rows, row);
}

static void table_print_free(struct table *t)
{
    g_autofree int *width = g_new0(int, t->ncols);

    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        for (guint i = 0; i < t->ncols; i++)
            width[i] = MAX(width[i], (int)g_utf8_strlen(row[i], -1));
    }
    for (guint r = 0; r < t->rows->len; r++) {
        char **row = g_ptr_array_index(t->rows, r);
        GString *line = g_string_new(NULL);
        for (guint i = 0; i < t->ncols; i++) {
            g_string_append(line, row[i]);
            if (i + 1 < t->ncols)
                for (int pad = (int)g_utf8_strlen(row[i], -1); pad < width[i] + 2; pad++)
                    g_string_append_c(line, ' ');
        }
        printf("%s\n", line->str);
        g_string_free(line, TRUE);
    }
    g_ptr_array_unref(t->rows);
    g_free(t);
}

static const char *str_member(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n == NULL || JSON_NODE_HOLDS_NULL(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

/* An integer member as text. Caller frees. */
static char *int_text(JsonObject *o, const char *name)
{
    return g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member_with_default(o, name, 0));
}

/* A string-array member joined with ", ". Caller frees. */
static char *list_text(JsonObject *o, const char *name)
{
    JsonArray *a = json_object_get_array_member(o, name);
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        if (i)
            g_string_append(s, ", ");
        g_string_append(s, json_array_get_string_element(a, i));
    }
    return g_string_free(s, FALSE);
}

/* Local time of a UNIX timestamp member. Caller frees. */
static char *time_text(JsonObject *o, const char *name)
{
    gint64 t = json_object_get_int_member_with_default(o, name, 0);
    g_autoptr(GDateTime) dt = t > 0 ? g_date_time_new_from_unix_local(t) : NULL;

    return dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("-");
}

/* "2h 3m" style duration. Caller frees. */
static char *duration_text(gint64 s)
{
    if (s == 0)
        return g_strdup("never");
    if (s % 86400 == 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "d", s / 86400);
    if (s % 3600 == 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "h", s / 3600);
    if (s % 60 == 0)
        return g_strdup_printf("%" G_GINT64_FORMAT "m", s / 60);
    return g_strdup_printf("%" G_GINT64_FORMAT "s", s);
}

/* ---- value parsing ---- */

/* A whole number in [min, max] given as option name; FALSE with a message if not. */
static gboolean parse_count(const char *name, const char *text, gint64 min, gint64 max, gint64 *out)
{
    if (!g_ascii_string_to_signed(text, 10, min, max, out, NULL)) {
        fprintf(stderr, "aulactl: --%s '%s' must be a whole number from %" G_GINT64_FORMAT
                        " to %" G_GINT64_FORMAT " (try --help)\n",
                name, text, min, max);
        return FALSE;
    }
    return TRUE;
}

/* "2G", "1536M", "2048" (MiB) -> MiB. */
static gboolean parse_memory(const char *text, gint64 *mib)
{
    g_autofree char *num = g_strdup(text);
    size_t len = strlen(num);
    gint64 factor = 1, n = 0;

    if (len > 0) {
        switch (g_ascii_toupper(num[len - 1])) {
        case 'T': factor = 1024 * 1024; num[len - 1] = '\0'; break;
        case 'G': factor = 1024; num[len - 1] = '\0'; break;
        case 'M': num[len - 1] = '\0'; break;
        default: break;
        }
    }
    if (!g_ascii_string_to_signed(num, 10, 1, G_MAXINT32, &n, NULL) || n * factor > 4194304) {
        fprintf(stderr, "aulactl: --memory '%s' is not a size such as 2G, 1536M or 2048 (MiB) (try --help)\n", text);
        return FALSE;
    }
    *mib = n * factor;
    return TRUE;
}

/* "300", "300s", "5m", "1h", "2d" -> seconds. */
static gboolean parse_duration(const char *name, const char *text, gint64 *secs)
{
    g_autofree char *num = g_strdup(text);
    size_t len = strlen(num);
    gint64 factor = 1, n = 0;

    if (len > 0 && !g_ascii_isdigit(num[len - 1])) {
        switch (num[len - 1]) {
        case 's': factor = 1; break;
        case 'm': factor = 60; break;
        case 'h': factor = 3600; break;
        case 'd': factor = 86400; break;
        default: factor = 0; break;
        }
        num[len - 1] = '\0';
    }
    if (factor == 0 || !g_ascii_string_to_signed(num, 10, 0, 366 * 86400, &n, NULL) ||
        n * factor > 366 * 86400) {
        fprintf(stderr, "aulactl: --%s '%s' is not a time such as 300, 30s, 5m, 1h or 2d (at most 366d) (try --help)\n",
                name, text);
        return FALSE;
    }
    *secs = n * factor;
    return TRUE;
}

/* --since: a local date/time or an age -> UNIX time. */
static gboolean parse_since(const char *text, gint64 *ts)
{
    g_autoptr(GTimeZone) local = g_time_zone_new_local();
    g_autoptr(GDateTime) dt = NULL;
    gint64 age = 0;
    size_t len = strlen(text);

    if (len > 1 && strchr("smhd", text[len - 1]) && strspn(text, "0123456789") == len - 1) {
        if (!parse_duration("since", text, &age))
            return FALSE;
        *ts = g_get_real_time() / G_USEC_PER_SEC - age;
        return TRUE;
    }
    if (len == 10) {
        g_autofree char *full = g_strconcat(text, "T00:00:00", NULL);
        dt = g_date_time_new_from_iso8601(full, local);
    } else if (len == 16) {
        /* GLib wants seconds; YYYY-MM-DDTHH:MM means :00. */
        g_autofree char *full = g_strconcat(text, ":00", NULL);
        dt = g_date_time_new_from_iso8601(full, local);
    } else {
        dt = g_date_time_new_from_iso8601(text, local);
    }
    if (dt == NULL) {
        fprintf(stderr, "aulactl: --since '%s' is not a time such as 2026-11-01, 2026-11-01T08:30 or 2h (try --help)\n",
                text);
        return FALSE;
    }
    *ts = g_date_time_to_unix(dt);
    return TRUE;
}

static gboolean parse_yes_no(const char *name, const char *text, gboolean *out)
{
    if (g_ascii_strcasecmp(text, "yes") == 0 || g_ascii_strcasecmp(text, "true") == 0) {
        *out = TRUE;
        return TRUE;
    }
    if (g_ascii_strcasecmp(text, "no") == 0 || g_ascii_strcasecmp(text, "false") == 0) {
        *out = FALSE;
        return TRUE;
    }
    fprintf(stderr, "aulactl: --%s '%s' must be yes or no (try --help)\n", name, text);
    return FALSE;
}

/* Escape a name for a URL path segment. Caller frees. */
static char *seg(const char *name)
{
    return g_uri_escape_string(name, NULL, FALSE);
}

/* ---- passwords ---- */

/* Read one line from f without its newline. Caller frees; NULL at EOF. */
static char *read_line(FILE *f)
{
    g_autoptr(GString) s = g_string_new(NULL);
    int ch;

    while ((ch = fgetc(f)) != EOF && ch != '\n')
        g_string_append_c(s, (char)ch);
    if (ch == EOF && s->len == 0)
        return NULL;
    if (s->len > 0 && s->str[s->len - 1] == '\r')
        g_string_truncate(s, s->len - 1);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Prompt on the terminal with echo off. Caller frees; NULL on EOF. */
static char *prompt_hidden(const char *prompt)
{
    struct termios old, quiet;
    char *line;

    fputs(prompt, stderr);
    fflush(stderr);
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    line = read_line(stdin);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    return line;
}

/* The new password: from stdin with --password-stdin, else typed twice. Caller frees. */
static char *get_password(const char *user, int *code)
{
    g_autofree char *prompt = NULL;
    char *first, *second;

    if (opt_password_stdin) {
        first = read_line(stdin);
        if (first == NULL || *first == '\0') {
            fprintf(stderr, "aulactl: no password on standard input\n");
            g_free(first);
            *code = EXIT_USAGE;
            return NULL;
        }
        return first;
    }
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "aulactl: no terminal to read the password from: use --password-stdin\n");
        *code = EXIT_USAGE;
        return NULL;
    }
    prompt = g_strdup_printf("New password for %s: ", user);
    first = prompt_hidden(prompt);
    second = first ? prompt_hidden("Retype the password: ") : NULL;
    if (first == NULL || second == NULL || strcmp(first, second) != 0) {
        fprintf(stderr, "aulactl: %s\n", first && second ? "the passwords do not match" : "no password given");
        g_free(first);
        g_free(second);
        *code = EXIT_USAGE;
        return NULL;
    }
    explicit_bzero(second, strlen(second));
    g_free(second);
    return first;
}

static void free_password(char *pw)
{
    if (pw) {
        explicit_bzero(pw, strlen(pw));
        g_free(pw);
    }
}

/* ---- commands ---- */

struct command {
    const char *name, *sub; /* sub may be two words ("snapshot create") */
    const char *args;      /* positional arguments, for --help */
    int nargs;             /* how many positional arguments */
    const GOptionEntry *entries;
    const char *summary;
    int (*run)(struct client *c, char **args);
};

static void add_member_str(JsonBuilder *b, const char *name, const char *v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, v);
}

static void add_member_int(JsonBuilder *b, const char *name, gint64 v)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, v);
}

static int cmd_status(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    JsonObject *o, *counts, *lv;
    JsonArray *listeners;
    int code = fetch(c, "/v1/status", &root);

    if (code != EXIT_OK)
        return code;
    if (opt_json) {
        print_json(root);
        return EXIT_OK;
    }
    o = json_node_get_object(root);
    counts = json_object_get_object_member(o, "counts");
    lv = json_object_get_object_member(o, "libvirt");
    listeners = json_object_get_array_member(o, "listeners");
    printf("aulad %s, pid %" G_GINT64_FORMAT ", up %" G_GINT64_FORMAT " s\n",
           str_member(o, "version"), json_object_get_int_member(o, "pid"),
           json_object_get_int_member(o, "uptime"));
    printf("state:      %s (database %s, schema v%" G_GINT64_FORMAT ")\n", str_member(o, "state_dir"),
           str_member(o, "database"), json_object_get_int_member(o, "schema_version"));
    if (lv) {
        const char *state = str_member(lv, "state");
        printf("libvirt:    %s: %s", str_member(lv, "uri"), state);
        if (g_strcmp0(state, "connected") == 0)
            printf(", libvirt %s, VMs run as %s domains%s", str_member(lv, "version"),
                   str_member(lv, "domain_type"),
                   g_strcmp0(str_member(lv, "domain_type"), "qemu") == 0 ? " (TCG emulation)" : " (KVM)");
        if (str_member(lv, "error"))
            printf(" (%s)", str_member(lv, "error"));
        printf("\n");
        if (str_member(lv, "note"))
            printf("            note: %s\n", str_member(lv, "note"));
        if (json_object_has_member(lv, "memory_budget_mib"))
            printf("VMs:        %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " MiB memory budget in use,"
                   " storage pool '%s', %" G_GINT64_FORMAT " operation(s) in progress\n",
                   json_object_get_int_member(lv, "memory_in_use_mib"),
                   json_object_get_int_member(lv, "memory_budget_mib"), str_member(lv, "storage_pool"),
                   json_object_get_int_member(lv, "operations_in_flight"));
    }
    for (guint i = 0; listeners && i < json_array_get_length(listeners); i++) {
        JsonObject *l = json_array_get_object_element(listeners, i);
        printf("%-11s %s %s: %s\n", i == 0 ? "listeners:" : "", str_member(l, "name"),
               str_member(l, "address"), str_member(l, "state"));
    }
    if (json_object_has_member(o, "tls_fingerprint") && *str_member(o, "tls_fingerprint"))
        printf("TLS:        certificate %s\n", str_member(o, "tls_fingerprint"));
    if (json_object_has_member(o, "session_processes"))
        printf("sessions:   %" G_GINT64_FORMAT " session process(es) running\n",
               json_object_get_int_member(o, "session_processes"));
    if (*str_member(o, "admin_group"))
        printf("admins:     root and members of group '%s'\n", str_member(o, "admin_group"));
    else
        printf("admins:     root only (admin_group is empty)\n");
    if (counts)
        printf("objects:    %" G_GINT64_FORMAT " users, %" G_GINT64_FORMAT " groups, %" G_GINT64_FORMAT
               " templates, %" G_GINT64_FORMAT " pools, %" G_GINT64_FORMAT " VMs, %" G_GINT64_FORMAT
               " active sessions\n",
               json_object_get_int_member(counts, "users"), json_object_get_int_member(counts, "groups"),
               json_object_get_int_member(counts, "templates"), json_object_get_int_member(counts, "pools"),
               json_object_get_int_member(counts, "vms"),
               json_object_get_int_member(counts, "active_sessions"));
    return EXIT_OK;
}

static int cmd_user_add(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    int code = EXIT_OK;
    char *pw = get_password(args[0], &code);

    if (pw == NULL)
        return code;
    json_builder_begin_object(b);
    add_member_str(b, "name", args[0]);
    add_member_str(b, "password", pw);
    if (opt_full_name)
        add_member_str(b, "full_name", opt_full_name);
    json_builder_end_object(b);
    free_password(pw);
    return change(c, "POST", "/v1/users", b);
}

static int cmd_user_passwd(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *name = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/users/%s/password", name);
    int code = EXIT_OK;
    char *pw = get_password(args[0], &code);

    if (pw == NULL)
        return code;
    json_builder_begin_object(b);
    add_member_str(b, "password", pw);
    json_builder_end_object(b);
    free_password(pw);
    return change(c, "PUT", path, b);
}

/* DELETE /v1/<what>/<name>. */
static int remove_named(struct client *c, const char *what, const char *name)
{
    g_autofree char *s = seg(name);
    g_autofree char *path = g_strdup_printf("/v1/%s/%s", what, s);

    return change(c, "DELETE", path, NULL);
}

static int cmd_user_rm(struct client *c, char **args)
{
    return remove_named(c, "users", args[0]);
}

static int cmd_user_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    static const char *const headers[] = { "NAME", "FULL NAME", "GROUPS", "POOLS", "CREATED", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, "/v1/users", &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *u = json_array_get_object_element(a, i);
        g_autofree char *groups = list_text(u, "groups"), *pools = list_text(u, "pools");
        g_autofree char *created = time_text(u, "created_at");
        table_row(t, str_member(u, "name"), str_member(u, "full_name"), groups, pools, created);
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_user_show(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/users/%s", s);
    g_autofree char *groups = NULL, *pools = NULL, *created = NULL, *changed = NULL;
    JsonObject *u;
    int code = fetch_table(c, path, &root);

    if (root == NULL)
        return code;
    u = json_node_get_object(root);
    groups = list_text(u, "groups");
    pools = list_text(u, "pools");
    created = time_text(u, "created_at");
    changed = time_text(u, "password_changed_at");
    printf("name:             %s\n", str_member(u, "name"));
    printf("full name:        %s\n", *str_member(u, "full_name") ? str_member(u, "full_name") : "-");
    printf("groups:           %s\n", *groups ? groups : "-");
    printf("pools:            %s\n", *pools ? pools : "-");
    printf("disabled:         %s\n", json_object_get_boolean_member(u, "disabled") ? "yes" : "no");
    printf("created:          %s\n", created);
    printf("password changed: %s\n", changed);
    return EXIT_OK;
}

static int cmd_group_add(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    add_member_str(b, "name", args[0]);
    json_builder_end_object(b);
    return change(c, "POST", "/v1/groups", b);
}

static int cmd_group_rm(struct client *c, char **args)
{
    return remove_named(c, "groups", args[0]);
}

static int cmd_group_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    static const char *const headers[] = { "NAME", "MEMBERS", "CREATED", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, "/v1/groups", &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *g = json_array_get_object_element(a, i);
        g_autofree char *members = list_text(g, "members"), *created = time_text(g, "created_at");
        table_row(t, str_member(g, "name"), members, created);
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_group_adduser(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *g = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/groups/%s/members", g);

    json_builder_begin_object(b);
    add_member_str(b, "user", args[1]);
    json_builder_end_object(b);
    return change(c, "POST", path, b);
}

static int cmd_group_deluser(struct client *c, char **args)
{
    g_autofree char *g = seg(args[0]), *u = seg(args[1]);
    g_autofree char *path = g_strdup_printf("/v1/groups/%s/members/%s", g, u);

    return change(c, "DELETE", path, NULL);
}

static int cmd_template_add(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *disk = NULL;
    gint64 mib = 2048, vcpus = 2;

    if (opt_disk == NULL)
        return fail_usage("template add needs --disk FILE");
    if ((opt_memory && !parse_memory(opt_memory, &mib)) ||
        (opt_vcpus && !parse_count("vcpus", opt_vcpus, 1, 512, &vcpus)))
        return EXIT_USAGE;
    /* aulad resolves nothing relative to its own cwd: send an absolute path. */
    disk = g_canonicalize_filename(opt_disk, NULL);
    json_builder_begin_object(b);
    add_member_str(b, "name", args[0]);
    add_member_str(b, "disk", disk);
    add_member_int(b, "memory_mib", mib);
    add_member_int(b, "vcpus", vcpus);
    if (opt_video)
        add_member_str(b, "video", opt_video);
    if (opt_firmware)
        add_member_str(b, "firmware", opt_firmware);
    if (opt_os)
        add_member_str(b, "os", opt_os);
    if (opt_kernel) {
        g_autofree char *k = g_canonicalize_filename(opt_kernel, NULL);
        add_member_str(b, "kernel", k);
    }
    if (opt_initrd) {
        g_autofree char *i = g_canonicalize_filename(opt_initrd, NULL);
        add_member_str(b, "initrd", i);
    }
    if (opt_cmdline)
        add_member_str(b, "cmdline", opt_cmdline);
    json_builder_end_object(b);
    /* A progress line for people; scripts get only the result. */
    if (!opt_json && isatty(STDERR_FILENO))
        fprintf(stderr, "importing %s into aula's storage pool...\n", disk);
    return change(c, "POST", "/v1/templates", b);
}

static int cmd_template_rm(struct client *c, char **args)
{
    return remove_named(c, "templates", args[0]);
}

/* "64.0 MiB": GLib's size, with a plain space for terminals and scripts. Caller frees. */
static char *size_text(guint64 bytes)
{
    char *s = g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
    GString *out = g_string_new(NULL);

    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        if (g_utf8_get_char(p) == 0x00a0)
            g_string_append_c(out, ' ');
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
    g_free(s);
    return g_string_free(out, FALSE);
}

/* "2048 MiB" or "2 GiB". Caller frees. */
static char *memory_text(gint64 mib)
{
    if (mib % 1024 == 0)
        return g_strdup_printf("%" G_GINT64_FORMAT " GiB", mib / 1024);
    return g_strdup_printf("%" G_GINT64_FORMAT " MiB", mib);
}

static int cmd_template_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    static const char *const headers[] = { "NAME", "MEMORY", "VCPUS", "VIDEO", "FIRMWARE", "OS", "POOLS", "DISK", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, "/v1/templates", &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *mem = memory_text(json_object_get_int_member(o, "memory_mib"));
        g_autofree char *vcpus = int_text(o, "vcpus"), *pools = list_text(o, "pools");
        table_row(t, str_member(o, "name"), mem, vcpus, str_member(o, "video"),
                  str_member(o, "firmware"), str_member(o, "os"), pools, str_member(o, "disk"));
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_template_show(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/templates/%s", s);
    g_autofree char *mem = NULL, *pools = NULL, *created = NULL;
    JsonObject *o;
    int code = fetch_table(c, path, &root);

    if (root == NULL)
        return code;
    o = json_node_get_object(root);
    mem = memory_text(json_object_get_int_member(o, "memory_mib"));
    pools = list_text(o, "pools");
    created = time_text(o, "created_at");
    printf("name:     %s\n", str_member(o, "name"));
    printf("disk:     %s\n", str_member(o, "disk"));
    printf("memory:   %s\n", mem);
    printf("vcpus:    %" G_GINT64_FORMAT "\n", json_object_get_int_member(o, "vcpus"));
    printf("video:    %s\n", str_member(o, "video"));
    printf("firmware: %s\n", str_member(o, "firmware"));
    printf("os:       %s\n", str_member(o, "os"));
    if (str_member(o, "cmdline") && *str_member(o, "cmdline"))
        printf("boot:     kernel %s, cmdline %s\n", str_member(o, "kernel_volume"), str_member(o, "cmdline"));
    printf("pools:    %s\n", *pools ? pools : "-");
    printf("created:  %s\n", created);
    if (json_object_has_member(o, "image")) {
        JsonObject *img = json_object_get_object_member(o, "image");
        g_autofree char *vsize = size_text((guint64)json_object_get_int_member(img, "virtual_size"));
        g_autofree char *asize = size_text((guint64)json_object_get_int_member(img, "allocated_size"));
        printf("image:    %s\n", str_member(img, "path"));
        printf("format:   %s\n", str_member(img, "format"));
        printf("size:     %s virtual, %s allocated\n", vsize, asize);
    }
    return EXIT_OK;
}

/* Add the pool options that were given to b; FALSE on a bad value. */
static gboolean pool_options(JsonBuilder *b)
{
    gint64 n = 0;

    if (opt_min) {
        if (!parse_count("min", opt_min, 0, 10000, &n))
            return FALSE;
        add_member_int(b, "min", n);
    }
    if (opt_max) {
        if (!parse_count("max", opt_max, 1, 10000, &n))
            return FALSE;
        add_member_int(b, "max", n);
    }
    if (opt_spare) {
        if (!parse_count("spare", opt_spare, 0, 10000, &n))
            return FALSE;
        add_member_int(b, "spare", n);
    }
    if (opt_protocols)
        add_member_str(b, "protocols", opt_protocols);
    if (opt_disconnect_timeout) {
        if (!parse_duration("disconnect-timeout", opt_disconnect_timeout, &n))
            return FALSE;
        add_member_int(b, "disconnect_timeout", n);
    }
    if (opt_idle_timeout) {
        if (!parse_duration("idle-timeout", opt_idle_timeout, &n))
            return FALSE;
        add_member_int(b, "idle_timeout", n);
    }
    if (opt_network)
        add_member_str(b, "network", opt_network);
    if (opt_vlan) {
        if (!parse_count("vlan", opt_vlan, 0, 4094, &n))
            return FALSE;
        add_member_int(b, "vlan", n);
    }
    return TRUE;
}

static int cmd_pool_create(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    if (opt_template == NULL)
        return fail_usage("pool create needs --template NAME");
    json_builder_begin_object(b);
    add_member_str(b, "name", args[0]);
    add_member_str(b, "template", opt_template);
    if (!pool_options(b))
        return EXIT_USAGE;
    if (opt_persistent_flag) {
        json_builder_set_member_name(b, "persistent");
        json_builder_add_boolean_value(b, TRUE);
    }
    if (opt_clone)
        add_member_str(b, "clone", opt_clone);
    json_builder_end_object(b);
    return change(c, "POST", "/v1/pools", b);
}

static int cmd_pool_set(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/pools/%s", s);
    gboolean persistent = FALSE;

    if (!opt_min && !opt_max && !opt_spare && !opt_protocols && !opt_disconnect_timeout &&
        !opt_idle_timeout && !opt_persistent && !opt_network && !opt_vlan)
        return fail_usage("pool set needs at least one setting to change");
    json_builder_begin_object(b);
    if (!pool_options(b))
        return EXIT_USAGE;
    if (opt_persistent) {
        if (!parse_yes_no("persistent", opt_persistent, &persistent))
            return EXIT_USAGE;
        json_builder_set_member_name(b, "persistent");
        json_builder_add_boolean_value(b, persistent);
    }
    json_builder_end_object(b);
    return change(c, "PATCH", path, b);
}

static int cmd_pool_rm(struct client *c, char **args)
{
    return remove_named(c, "pools", args[0]);
}

static int cmd_pool_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    static const char *const headers[] = { "NAME", "TEMPLATE", "MIN", "MAX", "SPARE", "PERSISTENT",
                                           "PROTOCOLS", "SESSIONS", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, "/v1/pools", &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *min = int_text(o, "min"), *max = int_text(o, "max");
        g_autofree char *spare = int_text(o, "spare"), *sessions = int_text(o, "active_sessions");
        table_row(t, str_member(o, "name"), str_member(o, "template"), min, max, spare,
                  json_object_get_boolean_member(o, "persistent") ? "yes" : "no",
                  str_member(o, "protocols"), sessions);
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_pool_show(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/pools/%s", s);
    g_autofree char *users = NULL, *groups = NULL, *created = NULL, *disc = NULL, *idle = NULL;
    JsonObject *o;
    int code = fetch_table(c, path, &root);

    if (root == NULL)
        return code;
    o = json_node_get_object(root);
    users = list_text(o, "entitled_users");
    groups = list_text(o, "entitled_groups");
    created = time_text(o, "created_at");
    disc = duration_text(json_object_get_int_member(o, "disconnect_timeout"));
    idle = duration_text(json_object_get_int_member(o, "idle_timeout"));
    printf("name:               %s\n", str_member(o, "name"));
    printf("template:           %s\n", str_member(o, "template"));
    printf("size:               min %" G_GINT64_FORMAT ", max %" G_GINT64_FORMAT ", spare %" G_GINT64_FORMAT "\n",
           json_object_get_int_member(o, "min"), json_object_get_int_member(o, "max"),
           json_object_get_int_member(o, "spare"));
    printf("persistent:         %s\n", json_object_get_boolean_member(o, "persistent") ? "yes" : "no");
    printf("clone:              %s\n", str_member(o, "clone"));
    printf("protocols:          %s\n", str_member(o, "protocols"));
    printf("disconnect timeout: %s\n", disc);
    printf("idle timeout:       %s\n", idle);
    printf("entitled users:     %s\n", *users ? users : "-");
    printf("entitled groups:    %s\n", *groups ? groups : "-");
    printf("network:            %s", str_member(o, "network"));
    if (json_object_get_int_member(o, "vlan"))
        printf(" (VLAN %" G_GINT64_FORMAT ")", json_object_get_int_member(o, "vlan"));
    printf("\n");
    printf("active sessions:    %" G_GINT64_FORMAT "\n", json_object_get_int_member(o, "active_sessions"));
    printf("created:            %s\n", created);
    if (str_member(o, "note"))
        printf("note:               %s\n", str_member(o, "note"));
    if (json_object_has_member(o, "vms")) {
        JsonArray *vms = json_object_get_array_member(o, "vms");
        static const char *const states[] = { "ready", "assigned", "in_use", "starting", "provisioning",
                                              "recycling", "stopped", "error", "deleted", NULL };
        printf("VMs:                %u", json_array_get_length(vms));
        for (const char *const *st = states; *st; st++) {
            GString *names = g_string_new(NULL);
            for (guint i = 0; i < json_array_get_length(vms); i++) {
                JsonObject *v = json_array_get_object_element(vms, i);
                if (g_strcmp0(str_member(v, "state"), *st) == 0)
                    g_string_append_printf(names, "%s%s", names->len ? ", " : "", str_member(v, "name"));
            }
            if (names->len)
                printf("\n  %-17s %s", *st, names->str);
            g_string_free(names, TRUE);
        }
        printf("\n");
    }
    return EXIT_OK;
}

/* Check --user/--group/--pool for entitle and unentitle. */
static int entitlement_args(void)
{
    if (opt_pool == NULL)
        return fail_usage("name the pool with --pool NAME");
    if ((opt_user == NULL) == (opt_group == NULL))
        return fail_usage("name exactly one of --user NAME and --group NAME");
    return EXIT_OK;
}

static int cmd_entitle(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    int code = entitlement_args();

    if (code != EXIT_OK)
        return code;
    json_builder_begin_object(b);
    add_member_str(b, "pool", opt_pool);
    add_member_str(b, opt_user ? "user" : "group", opt_user ? opt_user : opt_group);
    json_builder_end_object(b);
    return change(c, "POST", "/v1/entitlements", b);
}

static int cmd_unentitle(struct client *c, char **args)
{
    g_autofree char *pool = NULL, *name = NULL, *path = NULL;
    int code = entitlement_args();

    if (code != EXIT_OK)
        return code;
    pool = seg(opt_pool);
    name = seg(opt_user ? opt_user : opt_group);
    path = g_strdup_printf("/v1/entitlements/%s/%s/%s", pool, opt_user ? "user" : "group", name);
    return change(c, "DELETE", path, NULL);
}

static int cmd_session_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    static const char *const headers[] = { "ID", "USER", "POOL", "VM", "CLIENT", "PROTOCOL",
                                           "ENCODING", "STATE", "SINCE", "BYTES SENT", "FPS", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, opt_all ? "/v1/sessions?all=1" : "/v1/sessions", &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    if (json_array_get_length(a) == 0) {
        printf(opt_all ? "no sessions\n" : "no active sessions\n");
        return EXIT_OK;
    }
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *id = int_text(o, "id"), *since = time_text(o, "state_since");
        g_autofree char *bytes = int_text(o, "bytes_sent"), *fps = int_text(o, "fps");
        table_row(t, id, str_member(o, "user"), str_member(o, "pool"), str_member(o, "vm"),
                  str_member(o, "client"), str_member(o, "protocol"), str_member(o, "encoding"),
                  str_member(o, "state"), since, bytes, fps);
    }
    table_print_free(t);
    return EXIT_OK;
}

/* session disconnect|logoff ID */
static int session_action(struct client *c, const char *id, const char *action)
{
    g_autofree char *path = NULL, *s = seg(id);

    path = g_strdup_printf("/v1/sessions/%s/%s", s, action);
    return change(c, "POST", path, NULL);
}

static int cmd_session_disconnect(struct client *c, char **args)
{
    return session_action(c, args[0], "disconnect");
}

static int cmd_session_logoff(struct client *c, char **args)
{
    return session_action(c, args[0], "logoff");
}

static int cmd_audit(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GString) path = g_string_new("/v1/audit?limit=");
    static const char *const headers[] = { "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAIL", NULL };
    gint64 since = 0, limit = 100;
    struct table *t;
    JsonArray *a;
    int code;

    if ((opt_since && !parse_since(opt_since, &since)) ||
        (opt_limit && !parse_count("limit", opt_limit, 0, G_MAXINT32, &limit)))
        return EXIT_USAGE;
    g_string_append_printf(path, "%" G_GINT64_FORMAT, limit);
    if (since > 0)
        g_string_append_printf(path, "&since=%" G_GINT64_FORMAT, since);
    if (opt_user) {
        g_autofree char *u = seg(opt_user);
        g_string_append_printf(path, "&user=%s", u);
    }
    if (opt_pool) {
        g_autofree char *p = seg(opt_pool);
        g_string_append_printf(path, "&pool=%s", p);
    }
    code = fetch_table(c, path->str, &root);
    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *ts = time_text(o, "ts");
        table_row(t, ts, str_member(o, "actor"), str_member(o, "action"), str_member(o, "target"),
                  str_member(o, "outcome"), str_member(o, "detail"));
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_vm_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GString) path = g_string_new("/v1/vms");
    static const char *const headers[] = { "NAME", "POOL", "STATE", "OWNER", "UPTIME", "ERROR", NULL };
    struct table *t;
    JsonArray *a;
    int code;

    if (opt_pool) {
        g_autofree char *p = seg(opt_pool);
        g_string_append_printf(path, "?pool=%s", p);
    }
    if (opt_state) {
        g_autofree char *s = seg(opt_state);
        g_string_append_printf(path, "%sstate=%s", opt_pool ? "&" : "?", s);
    }
    code = fetch_table(c, path->str, &root);
    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    if (json_array_get_length(a) == 0) {
        printf("no VMs\n");
        return EXIT_OK;
    }
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        gint64 up = json_object_get_int_member(o, "uptime");
        g_autofree char *uptime = up > 0 ? g_strdup_printf("%" G_GINT64_FORMAT "s", up) : g_strdup("-");
        table_row(t, str_member(o, "name"), str_member(o, "pool"), str_member(o, "state"),
                  str_member(o, "owner"), uptime, str_member(o, "error"));
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_vm_show(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s", s);
    g_autofree char *created = NULL;
    JsonObject *o;
    int code = fetch_table(c, path, &root);

    if (root == NULL)
        return code;
    o = json_node_get_object(root);
    created = time_text(o, "created_at");
    printf("name:    %s\n", str_member(o, "name"));
    printf("pool:    %s\n", str_member(o, "pool"));
    printf("host:    %s\n", str_member(o, "host"));
    printf("state:   %s", str_member(o, "state"));
    if (str_member(o, "domain"))
        printf(" (libvirt: %s)", str_member(o, "domain"));
    if (str_member(o, "busy"))
        printf(" (%s in progress)", str_member(o, "busy"));
    printf("\n");
    if (str_member(o, "error"))
        printf("error:   %s (attempt %" G_GINT64_FORMAT ")\n", str_member(o, "error"),
               json_object_get_int_member(o, "attempts"));
    printf("owner:   %s\n", str_member(o, "owner") ? str_member(o, "owner") : "-");
    if (json_object_get_int_member(o, "uptime") > 0)
        printf("uptime:  %" G_GINT64_FORMAT " s\n", json_object_get_int_member(o, "uptime"));
    else
        printf("uptime:  -\n");
    printf("disk:    %s\n", str_member(o, "disk") ? str_member(o, "disk") : "-");
    if (json_object_has_member(o, "disk_allocated")) {
        g_autofree char *alloc = size_text((guint64)json_object_get_int_member(o, "disk_allocated"));
        g_autofree char *virt = size_text((guint64)json_object_get_int_member(o, "disk_virtual_size"));
        printf("         %s allocated of %s%s%s\n", alloc, virt,
               *str_member(o, "disk_backing") ? ", backed by " : "", str_member(o, "disk_backing"));
    }
    printf("uuid:    %s\n", str_member(o, "uuid"));
    printf("mac:     %s\n", str_member(o, "mac"));
    printf("created: %s\n", created);
    return EXIT_OK;
}

/* POST /v1/vms/NAME/ACTION. */
static int vm_action(struct client *c, const char *name, const char *action)
{
    g_autofree char *s = seg(name);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/%s", s, action);

    return change(c, "POST", path, NULL);
}

static int cmd_vm_start(struct client *c, char **args) { return vm_action(c, args[0], "start"); }
static int cmd_vm_stop(struct client *c, char **args) { return vm_action(c, args[0], "stop"); }
static int cmd_vm_reboot(struct client *c, char **args) { return vm_action(c, args[0], "reboot"); }
static int cmd_vm_reset(struct client *c, char **args) { return vm_action(c, args[0], "reset"); }
static int cmd_vm_destroy(struct client *c, char **args) { return vm_action(c, args[0], "destroy"); }
static int cmd_vm_release(struct client *c, char **args) { return vm_action(c, args[0], "release"); }

static int cmd_vm_snapshot_create(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/snapshots", s);

    json_builder_begin_object(b);
    add_member_str(b, "name", args[1]);
    json_builder_end_object(b);
    return change(c, "POST", path, b);
}

static int cmd_vm_snapshot_list(struct client *c, char **args)
{
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/snapshots", s);
    static const char *const headers[] = { "NAME", "CREATED", "STATE", "CURRENT", NULL };
    struct table *t;
    JsonArray *a;
    int code = fetch_table(c, path, &root);

    if (root == NULL)
        return code;
    a = json_node_get_array(root);
    if (json_array_get_length(a) == 0) {
        printf("no snapshots\n");
        return EXIT_OK;
    }
    t = table_new(headers);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_autofree char *created = time_text(o, "created_at");
        table_row(t, str_member(o, "name"), created, str_member(o, "state"),
                  json_object_get_boolean_member(o, "current") ? "yes" : "");
    }
    table_print_free(t);
    return EXIT_OK;
}

static int cmd_vm_snapshot_revert(struct client *c, char **args)
{
    g_autofree char *v = seg(args[0]), *n = seg(args[1]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/snapshots/%s/revert", v, n);

    return change(c, "POST", path, NULL);
}

static int cmd_vm_snapshot_delete(struct client *c, char **args)
{
    g_autofree char *v = seg(args[0]), *n = seg(args[1]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/snapshots/%s", v, n);

    return change(c, "DELETE", path, NULL);
}

static int cmd_vm_backup(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/vms/%s/backup", s);
    g_autofree char *dest = g_canonicalize_filename(args[1], NULL);

    json_builder_begin_object(b);
    add_member_str(b, "dest", dest);
    json_builder_end_object(b);
    if (!opt_json && isatty(STDERR_FILENO))
        fprintf(stderr, "backing up %s to %s...\n", args[0], dest);
    return change(c, "POST", path, b);
}

static int cmd_pool_allocate(struct client *c, char **args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *s = seg(args[0]);
    g_autofree char *path = g_strdup_printf("/v1/pools/%s/allocate", s);

    if (opt_user == NULL)
        return fail_usage("pool allocate needs --user NAME");
    json_builder_begin_object(b);
    add_member_str(b, "user", opt_user);
    json_builder_end_object(b);
    return change(c, "POST", path, b);
}

static const struct command commands[] = {
    { "status", NULL, "", 0, NULL, "Show what aulad is doing: state, libvirt, listeners, counts", cmd_status },
    { "user", "add", "NAME", 1, user_add_entries, "Add a local user (password from the terminal, or --password-stdin)", cmd_user_add },
    { "user", "passwd", "NAME", 1, password_entries, "Set a user's password", cmd_user_passwd },
    { "user", "rm", "NAME", 1, NULL, "Remove a user (refused while they have an active session)", cmd_user_rm },
    { "user", "list", "", 0, NULL, "List users", cmd_user_list },
    { "user", "show", "NAME", 1, NULL, "Show one user", cmd_user_show },
    { "group", "add", "NAME", 1, NULL, "Add a group", cmd_group_add },
    { "group", "rm", "NAME", 1, NULL, "Remove a group (its members stay)", cmd_group_rm },
    { "group", "list", "", 0, NULL, "List groups and their members", cmd_group_list },
    { "group", "adduser", "GROUP USER", 2, NULL, "Add a user to a group", cmd_group_adduser },
    { "group", "deluser", "GROUP USER", 2, NULL, "Remove a user from a group", cmd_group_deluser },
    { "template", "add", "NAME", 1, template_add_entries, "Register a desktop template (a qcow2 disk and VM settings)", cmd_template_add },
    { "template", "list", "", 0, NULL, "List templates", cmd_template_list },
    { "template", "show", "NAME", 1, NULL, "Show one template", cmd_template_show },
    { "template", "rm", "NAME", 1, NULL, "Remove a template (refused while a pool uses it)", cmd_template_rm },
    { "pool", "create", "NAME", 1, pool_create_entries, "Create a pool of desktops from a template", cmd_pool_create },
    { "pool", "list", "", 0, NULL, "List pools", cmd_pool_list },
    { "pool", "show", "NAME", 1, NULL, "Show one pool", cmd_pool_show },
    { "pool", "set", "NAME", 1, pool_set_entries, "Change a pool's settings", cmd_pool_set },
    { "pool", "rm", "NAME", 1, NULL, "Remove a pool (refused while it has active sessions or VMs)", cmd_pool_rm },
    { "pool", "allocate", "NAME", 1, allocate_entries, "Give --user a desktop of the pool, as a login does (waits for one)", cmd_pool_allocate },
    { "vm", "list", "", 0, vm_list_entries, "List VMs (--pool, --state)", cmd_vm_list },
    { "vm", "show", "VM", 1, NULL, "Show a VM: state, owner, uptime, disk", cmd_vm_show },
    { "vm", "start", "VM", 1, NULL, "Start a stopped VM", cmd_vm_start },
    { "vm", "stop", "VM", 1, NULL, "Shut a VM down (ACPI power button)", cmd_vm_stop },
    { "vm", "reboot", "VM", 1, NULL, "Reboot a VM (ACPI)", cmd_vm_reboot },
    { "vm", "reset", "VM", 1, NULL, "Reset a VM to its template, discarding its disk's changes", cmd_vm_reset },
    { "vm", "destroy", "VM", 1, NULL, "Power a VM off and remove it with its disk", cmd_vm_destroy },
    { "vm", "release", "VM", 1, NULL, "End its user's hold: a non-persistent VM is reset and becomes a spare", cmd_vm_release },
    { "vm", "snapshot create", "VM NAME", 2, NULL, "Snapshot a VM of a persistent pool (with its memory if it runs)", cmd_vm_snapshot_create },
    { "vm", "snapshot list", "VM", 1, NULL, "List a VM's snapshots", cmd_vm_snapshot_list },
    { "vm", "snapshot revert", "VM NAME", 2, NULL, "Bring a VM back to a snapshot", cmd_vm_snapshot_revert },
    { "vm", "snapshot delete", "VM NAME", 2, NULL, "Delete a snapshot", cmd_vm_snapshot_delete },
    { "vm", "backup", "VM DEST", 2, NULL, "Write a standalone qcow2 copy of the VM's disk to DEST (running or not)", cmd_vm_backup },
    { "entitle", NULL, "", 0, entitle_entries, "Let a user or a group use a pool: --user NAME|--group NAME --pool NAME", cmd_entitle },
    { "unentitle", NULL, "", 0, entitle_entries, "Take a pool away from a user or a group", cmd_unentitle },
    { "session", "list", "", 0, session_entries, "List sessions", cmd_session_list },
    { "session", "disconnect", "ID", 1, NULL,
      "Cut the session's client off; the desktop stays the user's for the pool's disconnect timeout",
      cmd_session_disconnect },
    { "session", "logoff", "ID", 1, NULL,
      "End the session: the client is cut off and the desktop is released (reset unless persistent)",
      cmd_session_logoff },
    { "audit", NULL, "", 0, audit_entries, "Show the audit log (--since, --user, --pool, --limit)", cmd_audit },
};

static const char *const exit_codes_text =
    "Exit status: 0 success; 1 aulad refused the request (bad value, conflict, in use);\n"
    "2 bad command line; 3 unknown user, group, template, pool, VM or snapshot;\n"
    "4 permission denied, or the user is not entitled to the pool; 5 aulad cannot be\n"
    "reached, libvirt is not connected, or no desktop became ready in time.";

static void print_overview(FILE *out)
{
    fprintf(out, "Usage: aulactl [--socket PATH] [--json] COMMAND [ARGS] [OPTIONS]\n\n"
                 "Administer the aula VDI broker through aulad's admin socket.\n\nCommands:\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_autofree char *name = g_strjoin(" ", commands[i].name, commands[i].sub, NULL);
        g_autofree char *full = g_strjoin(" ", name, commands[i].args, NULL);
        fprintf(out, "  %-28s %s\n", g_strstrip(full), commands[i].summary);
    }
    fprintf(out, "\nRun 'aulactl COMMAND --help' for a command's options.\n%s\n", exit_codes_text);
}

/* The words of argv that are not options, skipping the values of global options. */
static GPtrArray *positional_words(int argc, char **argv)
{
    GPtrArray *words = g_ptr_array_new();

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            for (i++; i < argc; i++)
                g_ptr_array_add(words, argv[i]);
            break;
        }
        if (argv[i][0] == '-') {
            if (strcmp(argv[i], "--socket") == 0 || strcmp(argv[i], "-s") == 0)
                i++;
            continue;
        }
        g_ptr_array_add(words, argv[i]);
    }
    return words;
}

/* The command named by the first words; *known_name says whether the first
 * word names any command at all. */
static const struct command *find_command(GPtrArray *words, gboolean *known_name)
{
    const char *name = g_ptr_array_index(words, 0);
    const char *sub = words->len > 1 ? g_ptr_array_index(words, 1) : NULL;
    g_autofree char *sub2 = words->len > 2 ? g_strjoin(" ", sub, (char *)g_ptr_array_index(words, 2), NULL)
                                           : NULL;

    *known_name = FALSE;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        const char *want = commands[i].sub;
        if (strcmp(commands[i].name, name) != 0)
            continue;
        *known_name = TRUE;
        if (want == NULL || g_strcmp0(want, strchr(want, ' ') ? sub2 : sub) == 0)
            return &commands[i];
    }
    return NULL;
}

/* How many words name cmd. */
static int command_words(const struct command *cmd)
{
    return 1 + (cmd->sub ? 1 : 0) + (cmd->sub && strchr(cmd->sub, ' ') ? 1 : 0);
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) words = positional_words(argc, argv);
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *param = NULL, *title = NULL;
    const struct command *cmd;
    struct client c = { 0 };
    gboolean known = FALSE;
    int skip, code;

    if (words->len == 0) {
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
                printf("aulactl %s\n", PACKAGE_VERSION);
                return EXIT_OK;
            }
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                print_overview(stdout);
                return EXIT_OK;
            }
        }
        print_overview(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(g_ptr_array_index(words, 0), "help") == 0) {
        print_overview(stdout);
        return EXIT_OK;
    }
    cmd = find_command(words, &known);
    if (cmd == NULL && !known)
        return fail_usage("unknown command '%s'", (const char *)g_ptr_array_index(words, 0));
    if (cmd == NULL) {
        GString *subs = g_string_new(NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
            if (strcmp(commands[i].name, g_ptr_array_index(words, 0)) == 0)
                g_string_append_printf(subs, "%s%s", subs->len ? ", " : "", commands[i].sub);
        code = fail_usage("'%s' needs one of: %s", (const char *)g_ptr_array_index(words, 0), subs->str);
        g_string_free(subs, TRUE);
        return code;
    }
    title = g_strjoin(" ", cmd->name, cmd->sub, NULL);
    param = g_strdup_printf("%s %s", title, cmd->args);
    ctx = g_option_context_new(param);
    g_option_context_set_summary(ctx, cmd->summary);
    g_option_context_set_description(ctx, exit_codes_text);
    g_option_context_add_main_entries(ctx, global_entries, NULL);
    if (cmd->entries)
        g_option_context_add_main_entries(ctx, cmd->entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err))
        return fail_usage("%s", err->message);
    if (opt_version) {
        printf("aulactl %s\n", PACKAGE_VERSION);
        return EXIT_OK;
    }
    /* After parsing, argv holds the program name and the positional words. */
    skip = 1 + command_words(cmd);
    if (argc - skip != cmd->nargs) {
        if (argc - skip < cmd->nargs)
            return fail_usage("%s needs %s", title, cmd->args);
        return fail_usage("%s: unexpected argument '%s'", title, argv[skip + cmd->nargs]);
    }
    c.socket = g_strdup(opt_socket ? opt_socket
                       : g_getenv("AULA_SOCKET") && *g_getenv("AULA_SOCKET") ? g_getenv("AULA_SOCKET")
                       : DEFAULT_SOCKET);
    addr = g_unix_socket_address_new(c.socket);
    /* Imports, backups and allocations answer when they are done, which can
     * take as long as aulad's allocate_timeout (at most an hour) or a large
     * copy: wait for them. */
    c.session = soup_session_new_with_options("remote-connectable", addr, "timeout", 4 * 3600, NULL);
    code = cmd->run(&c, argv + skip);
    g_object_unref(c.session);
    g_free(c.socket);
    return code;
}
