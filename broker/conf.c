/* conf: the settings table and the aulad.conf parser. */
#include "config.h"

#include "broker/conf.h"

#include <errno.h>
#include <gio/gio.h>
#include <stddef.h>
#include <string.h>

enum setting_type { SET_STRING, SET_PATH, SET_INT, SET_ENUM, SET_ADDRESSES, SET_BOOL };

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;              /* into struct conf */
    const char *def;            /* default, as written in the file */
    int min, max;               /* SET_INT bounds */
    const char *const *choices; /* SET_ENUM */
    gboolean reloadable;        /* SIGHUP applies it */
    const char *help;
    gboolean may_be_empty;      /* SET_STRING: "" is a meaningful value */
};

static const char *const hypervisors[] = { "auto", "kvm", "qemu", NULL };
static const char *const log_levels[] = { "error", "warning", "message", "info", "debug", NULL };

#define OFF(f) offsetof(struct conf, f)

/* Every setting aulad knows. Keep in step with struct conf. */
static const struct setting settings[] = {
    { "state_dir", SET_PATH, OFF(state_dir), LOCALSTATEDIR "/lib/aula", 0, 0, NULL, FALSE,
      "Directory for the database (aula.db), TLS material and images. aulad takes a lock "
      "here, so two daemons can never share it.", FALSE },
    { "admin_socket", SET_PATH, OFF(admin_socket), RUNSTATEDIR "/aula/admin.sock", 0, 0, NULL, FALSE,
      "UNIX socket of the admin API used by aulactl. Anyone may connect; requests are "
      "authorized by the peer's credentials (SO_PEERCRED).", FALSE },
    { "admin_group", SET_STRING, OFF(admin_group), "aula-admin", 0, 0, NULL, TRUE,
      "Members of this system group may use the admin API, besides root. Empty: root only.", TRUE },
    { "libvirt_uri", SET_STRING, OFF(libvirt_uri), "qemu:///system", 0, 0, NULL, FALSE,
      "libvirt connection URI of the local host.", FALSE },
    { "hypervisor", SET_ENUM, OFF(hypervisor), "auto", 0, 0, hypervisors, FALSE,
      "Domain type for VMs: kvm, qemu (TCG emulation), or auto (kvm where libvirt offers it, "
      "else qemu with a warning).", FALSE },
    { "rdp_address", SET_ADDRESSES, OFF(rdp_address), "::", 0, 0, NULL, FALSE,
      "Addresses to accept RDP connections on, comma-separated (:: is every IPv6 and IPv4 address).", FALSE },
    { "rdp_port", SET_INT, OFF(rdp_port), "3389", 1, 65535, NULL, FALSE, "TCP port for RDP.", FALSE },
    { "vnc_address", SET_ADDRESSES, OFF(vnc_address), "::", 0, 0, NULL, FALSE,
      "Addresses to accept VNC connections on, comma-separated.", FALSE },
    { "vnc_port", SET_INT, OFF(vnc_port), "5900", 1, 65535, NULL, FALSE, "TCP port for VNC.", FALSE },
    { "api_address", SET_ADDRESSES, OFF(api_address), "::", 0, 0, NULL, FALSE,
      "Addresses for the client API (HTTPS), comma-separated.", FALSE },
    { "api_port", SET_INT, OFF(api_port), "8443", 1, 65535, NULL, FALSE,
      "TCP port for the client API (HTTPS).", FALSE },
    { "log_level", SET_ENUM, OFF(log_level), "info", 0, 0, log_levels, TRUE,
      "Least important messages to log: error, warning, message, info or debug.", FALSE },
    { "storage_pool", SET_STRING, OFF(storage_pool), "aula", 0, 0, NULL, FALSE,
      "libvirt storage pool (a directory, state_dir/images) for template images and VM disks; "
      "created when missing.", FALSE },
    { "parallel_provisioning", SET_INT, OFF(parallel_provisioning), "2", 1, 64, NULL, FALSE,
      "How many VM operations (create, start, reset, remove) run at once.", FALSE },
    { "allocate_timeout", SET_INT, OFF(allocate_timeout), "120", 1, 3600, NULL, TRUE,
      "Seconds a login waits for a desktop when no spare is ready.", FALSE },
    { "memory_budget_mib", SET_INT, OFF(memory_budget_mib), "0", 0, 1073741824, NULL, TRUE,
      "Memory (MiB) the VMs of this host may use together; 0: the host's memory less "
      "memory_reserve_mib. aula starts no VM beyond it.", FALSE },
    { "memory_reserve_mib", SET_INT, OFF(memory_reserve_mib), "1024", 0, 1073741824, NULL, TRUE,
      "Memory (MiB) kept for the host when memory_budget_mib is 0.", FALSE },
    { "remove_unknown_domains", SET_BOOL, OFF(remove_unknown_domains), "false", 0, 1, NULL, FALSE,
      "At start, remove libvirt domains named aula-* that the database does not know "
      "(otherwise they are only reported).", FALSE },
    { "public_address", SET_STRING, OFF(public_address), "", 0, 0, NULL, TRUE,
      "Host name or address that clients are told to connect to for RDP and VNC. Empty: the "
      "host name the client used to reach the client API.", TRUE },
    { "token_lifetime", SET_INT, OFF(token_lifetime), "28800", 60, 604800, NULL, TRUE,
      "Seconds a client API login token stays valid.", FALSE },
    { "ticket_lifetime", SET_INT, OFF(ticket_lifetime), "60", 5, 600, NULL, TRUE,
      "Seconds a one-time connection ticket stays valid. A ticket works once.", FALSE },
    { "login_max_failures", SET_INT, OFF(login_max_failures), "5", 1, 1000, NULL, TRUE,
      "Failed logins (client API, RDP, tickets) allowed per user name and per client address "
      "within login_lockout seconds; further attempts are refused until the window passes.", FALSE },
    { "login_lockout", SET_INT, OFF(login_lockout), "300", 1, 86400, NULL, TRUE,
      "Seconds over which failed logins are counted, and how long a lockout lasts.", FALSE },
    { "session_user", SET_STRING, OFF(session_user), "aula", 0, 0, NULL, FALSE,
      "System account that aula-session processes run as (never root). It must exist; "
      "packaging creates it.", FALSE },
    { "session_program", SET_PATH, OFF(session_program), LIBEXECDIR "/aula/aula-session", 0, 0,
      NULL, FALSE, "Path of the aula-session program started for each connection.", FALSE },
    { "max_sessions", SET_INT, OFF(max_sessions), "256", 1, 65536, NULL, TRUE,
      "Connections (session processes) served at once; more are refused.", FALSE },
};

#define CONF_ERROR (g_quark_from_static_string("aula-config-error"))

static char **str_field(struct conf *cfg, const struct setting *s)
{
    return (char **)((char *)cfg + s->offset);
}

static const char *str_value(const struct conf *cfg, const struct setting *s)
{
    return *(char *const *)((const char *)cfg + s->offset);
}

static int *int_field(struct conf *cfg, const struct setting *s)
{
    return (int *)((char *)cfg + s->offset);
}

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

/* Check value for s and store it in cfg; on failure *reason says why (caller frees). */
static gboolean setting_apply(struct conf *cfg, const struct setting *s, const char *value,
                              char **reason)
{
    switch (s->type) {
    case SET_PATH:
        if (!g_path_is_absolute(value)) {
            *reason = g_strdup_printf("%s must be an absolute path, not '%s'", s->name, value);
            return FALSE;
        }
        break;
    case SET_STRING:
        if (value[0] == '\0' && !s->may_be_empty) {
            *reason = g_strdup_printf("%s must not be empty", s->name);
            return FALSE;
        }
        if (strpbrk(value, "\n\r") != NULL) {
            *reason = g_strdup_printf("%s must be on one line", s->name);
            return FALSE;
        }
        break;
    case SET_ENUM:
        if (!g_strv_contains(s->choices, value)) {
            g_autofree char *list = g_strjoinv(", ", (char **)s->choices);
            *reason = g_strdup_printf("%s = '%s' is not one of %s", s->name, value, list);
            return FALSE;
        }
        break;
    case SET_ADDRESSES: {
        g_auto(GStrv) parts = g_strsplit(value, ",", -1);
        if (parts[0] == NULL) {
            *reason = g_strdup_printf("%s needs at least one IP address", s->name);
            return FALSE;
        }
        for (char **p = parts; *p; p++) {
            g_autoptr(GInetAddress) a = g_inet_address_new_from_string(g_strstrip(*p));
            if (a == NULL) {
                *reason = g_strdup_printf("%s: '%s' is not an IP address", s->name, *p);
                return FALSE;
            }
        }
        break;
    }
    case SET_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            *int_field(cfg, s) = value[0] == 't';
            return TRUE;
        }
        *reason = g_strdup_printf("%s = '%s' must be true or false", s->name, value);
        return FALSE;
    case SET_INT: {
        gint64 n = 0;
        if (!g_ascii_string_to_signed(value, 10, s->min, s->max, &n, NULL)) {
            *reason = g_strdup_printf("%s = '%s' must be a whole number from %d to %d", s->name,
                                      value, s->min, s->max);
            return FALSE;
        }
        *int_field(cfg, s) = (int)n;
        return TRUE;
    }
    }
    g_free(*str_field(cfg, s));
    *str_field(cfg, s) = g_strdup(value);
    return TRUE;
}

struct conf *conf_new_defaults(void)
{
    struct conf *cfg = g_new0(struct conf, 1);

    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        g_autofree char *reason = NULL;
        gboolean ok = setting_apply(cfg, &settings[i], settings[i].def, &reason);
        g_assert(ok); /* the table's own defaults are valid */
    }
    return cfg;
}

void conf_free(struct conf *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++)
        if (settings[i].type != SET_INT && settings[i].type != SET_BOOL)
            g_free(*str_field(cfg, &settings[i]));
    g_free(cfg);
}

/* GKeyFile reports no line numbers, so the file is first read line by line to
 * check its shape and to learn where each key is (keys: name -> line number);
 * GKeyFile then parses the values. */
static int scan_lines(const char *path, const char *text, GHashTable *keys, GError **error)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *group = NULL;
    int n = 0;

    for (char **l = lines; *l; l++) {
        char *line = g_strstrip(*l);
        n++;
        /* Only '#' starts a comment, as in GKeyFile, which would refuse a ';'
         * line without saying where. */
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (line[0] == '[') {
            size_t len = strlen(line);
            if (len < 3 || line[len - 1] != ']') {
                g_set_error(error, CONF_ERROR, EINVAL, "%s:%d: malformed group header '%s'", path,
                            n, line);
                return -EINVAL;
            }
            g_free(group);
            group = g_strndup(line + 1, len - 2);
            if (strcmp(group, CONF_GROUP) != 0) {
                g_set_error(error, CONF_ERROR, EINVAL,
                            "%s:%d: unknown section [%s] (settings go under [" CONF_GROUP "])",
                            path, n, group);
                return -EINVAL;
            }
            continue;
        }
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            g_set_error(error, CONF_ERROR, EINVAL, "%s:%d: expected 'name = value', got '%s'",
                        path, n, line);
            return -EINVAL;
        }
        if (group == NULL) {
            g_set_error(error, CONF_ERROR, EINVAL,
                        "%s:%d: setting outside a section (start the file with [" CONF_GROUP "])",
                        path, n);
            return -EINVAL;
        }
        *eq = '\0';
        g_strstrip(line);
        if (find_setting(line) == NULL) {
            g_set_error(error, CONF_ERROR, EINVAL, "%s:%d: unknown setting '%s'", path, n, line);
            return -EINVAL;
        }
        if (g_hash_table_contains(keys, line)) {
            g_set_error(error, CONF_ERROR, EINVAL, "%s:%d: '%s' is already set on line %d", path,
                        n, line, GPOINTER_TO_INT(g_hash_table_lookup(keys, line)));
            return -EINVAL;
        }
        g_hash_table_insert(keys, g_strdup(line), GINT_TO_POINTER(n));
    }
    return 0;
}

int conf_load(const char *path, struct conf **cfgp, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    int r;

    if (!g_file_get_contents(path, &text, &len, &err)) {
        r = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? -ENOENT : -EIO;
        g_set_error(error, CONF_ERROR, -r, "%s", err->message);
        return r;
    }
    return conf_parse(path, text, len, cfgp, error);
}

int conf_parse(const char *path, const char *text, gsize len, struct conf **cfgp, GError **error)
{
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    struct conf *cfg = NULL;
    int r;

    if (memchr(text, '\0', len) != NULL || !g_utf8_validate(text, len, NULL)) {
        g_set_error(error, CONF_ERROR, EINVAL, "%s: not a UTF-8 text file", path);
        return -EINVAL;
    }
    r = scan_lines(path, text, keys, error);
    if (r < 0)
        return r;
    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, CONF_ERROR, EINVAL, "%s: %s", path, err->message);
        return -EINVAL;
    }
    cfg = conf_new_defaults();
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        g_autofree char *value = NULL, *reason = NULL;

        if (!g_key_file_has_key(kf, CONF_GROUP, s->name, NULL))
            continue;
        value = g_key_file_get_string(kf, CONF_GROUP, s->name, &err);
        if (value == NULL) {
            reason = g_strdup(err->message);
        } else {
            g_strstrip(value);
            if (setting_apply(cfg, s, value, &reason))
                continue;
        }
        g_set_error(error, CONF_ERROR, EINVAL, "%s:%d: %s", path,
                    GPOINTER_TO_INT(g_hash_table_lookup(keys, s->name)), reason);
        conf_free(cfg);
        return -EINVAL;
    }
    *cfgp = cfg;
    return 0;
}

/* The value of s in cfg as it would be written in the file. Caller frees. */
static char *setting_text(const struct conf *cfg, const struct setting *s)
{
    if (s->type == SET_BOOL)
        return g_strdup(*int_field((struct conf *)cfg, s) ? "true" : "false");
    if (s->type == SET_INT)
        return g_strdup_printf("%d", *int_field((struct conf *)cfg, s));
    return g_strdup(str_value(cfg, s));
}

void conf_dump(const struct conf *cfg, FILE *out)
{
    fprintf(out, "# aulad.conf: see aulad.conf(5)\n[" CONF_GROUP "]\n");
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        g_autofree char *value = setting_text(cfg, s);
        g_autofree char *help = g_strdup(s->help);
        g_auto(GStrv) words = g_strsplit(help, " ", -1);
        int col = 1;

        fputs("\n#", out);
        for (char **w = words; *w; w++) {
            if (col + 1 + (int)strlen(*w) > 78) {
                fputs("\n#", out);
                col = 1;
            }
            fprintf(out, " %s", *w);
            col += 1 + (int)strlen(*w);
        }
        fprintf(out, "\n# default: %s%s\n%s = %s\n", s->def,
                s->reloadable ? " (SIGHUP reloads it)" : "", s->name, value);
    }
}

/* Escape text for roff: backslashes and leading dots. */
static void man_text(FILE *out, const char *text)
{
    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", out);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
}

void conf_dump_man(FILE *out)
{
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];

        fputs(".TP\n.BR ", out);
        man_text(out, s->name);
        fputs(" \" = \" \"", out);
        man_text(out, s->def);
        fputs("\"\n", out);
        man_text(out, s->help);
        if (s->type == SET_INT)
            fprintf(out, " Range %d to %d.", s->min, s->max);
        fputs(s->reloadable ? " Reloaded on SIGHUP." : " Changing it needs a restart.", out);
        fputc('\n', out);
    }
}

char **conf_reload(struct conf *dst, const struct conf *src)
{
    g_autoptr(GStrvBuilder) restart = g_strv_builder_new();

    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        g_autofree char *old = setting_text(dst, s), *new = setting_text(src, s);
        g_autofree char *reason = NULL;

        if (strcmp(old, new) == 0)
            continue;
        if (s->reloadable)
            setting_apply(dst, s, new, &reason);
        else
            g_strv_builder_add(restart, s->name);
    }
    return g_strv_builder_end(restart);
}

char *conf_db_path(const struct conf *cfg)
{
    return g_build_filename(cfg->state_dir, "aula.db", NULL);
}
