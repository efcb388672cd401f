/* thinclient/tc_conf: the settings table, the client.conf parser and the
 * command-line options made from the same table. */
#include "config.h"

#include "thinclient/tc_conf.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "thinclient/broker_addr.h"

G_DEFINE_QUARK(aula-tc-conf-error, tc_conf_error)

enum setting_type {
    SET_BROKER,      /* HOST[:PORT], through broker_addr_parse() */
    SET_POOL,        /* a pool name, by the broker's naming rule */
    SET_ENUM,
    SET_BOOL,
    SET_LAYOUT,      /* a keyboard layout name */
    SET_PATH,        /* absolute in the file; the command line's are made so */
    SET_FINGERPRINT, /* sha256:..., stored normalized */
    SET_INT,
};

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;              /* into struct tc_conf */
    const char *def;            /* default as written in the file; NULL: unset (or computed) */
    int min, max;               /* SET_INT bounds */
    const char *const *choices; /* SET_ENUM */
    const char *arg;            /* the value's name in --help */
    gboolean may_unset;         /* an empty value unsets it */
    const char *help;           /* the first sentence is the option's --help line */
};

static const char *const protocols[] = { "rdp", "vnc", NULL };

#define OFF(f) offsetof(struct tc_conf, f)

/* Every setting aula-client knows. Keep in step with struct tc_conf. */
static const struct setting settings[] = {
    { "broker", SET_BROKER, OFF(broker), NULL, 0, 0, NULL, "HOST[:PORT]", TRUE,
      "The broker to log in to. A host name or an address, with :PORT when the broker's "
      "client API is not on port 8443; an IPv6 address with a port is written [ADDRESS]:PORT." },
    { "pool", SET_POOL, OFF(pool), NULL, 0, 0, NULL, "NAME", TRUE,
      "The pool to connect to after the login. Unset: the user picks one of their pools." },
    { "protocol", SET_ENUM, OFF(protocol), "rdp", 0, 0, protocols, "rdp|vnc", FALSE,
      "The desktop protocol: rdp or vnc. A pool that does not offer it is refused by the "
      "broker." },
    { "fullscreen", SET_BOOL, OFF(fullscreen), "false", 0, 1, NULL, NULL, FALSE,
      "Show the desktop full screen." },
    { "kiosk", SET_BOOL, OFF(kiosk), "false", 0, 1, NULL, NULL, FALSE,
      "Kiosk mode. The client runs full screen, the user cannot close it, and it shows the "
      "login screen again when a session ends." },
    { "keyboard_layout", SET_LAYOUT, OFF(keyboard_layout), "us", 0, 0, NULL, "LAYOUT", FALSE,
      "The keyboard layout of this machine, such as us, de or fr." },
    { "ca_file", SET_PATH, OFF(ca_file), NULL, 0, 0, NULL, "FILE", TRUE,
      "Check the broker's certificate against the CA certificates in this PEM file. The "
      "certificate must also be made for the broker's host name as given in broker." },
    { "fingerprint", SET_FINGERPRINT, OFF(fingerprint), NULL, 0, 0, NULL, "sha256:AA:BB:...",
      TRUE,
      "Pin the broker's certificate by its SHA-256 fingerprint, as aulad logs it and "
      "`aulactl status` shows it. Any other certificate is refused; with ca_file as well, "
      "both must hold." },
    { "tofu", SET_BOOL, OFF(tofu), "false", 0, 1, NULL, NULL, FALSE,
      "Trust a broker's certificate on first use, when neither ca_file nor fingerprint is "
      "set. The fingerprint seen first is stored in known_brokers, and a connection whose "
      "certificate differs from it is refused. Without any of the three, every certificate "
      "is refused, and the message shows its fingerprint to pin." },
    { "known_brokers", SET_PATH, OFF(known_brokers), NULL, 0, 0, NULL, "FILE", FALSE,
      "Where tofu keeps the fingerprints it has seen, one \"HOST:PORT sha256:...\" line per "
      "broker. Default: $XDG_CONFIG_HOME/aula/known_brokers, else "
      "~/.config/aula/known_brokers, else (HOME unset) " TC_CONF_SYSTEM_KNOWN_BROKERS "." },
    { "timeout", SET_INT, OFF(timeout), "15", 1, 300, NULL, "SECONDS", FALSE,
      "Seconds to wait for the broker's answer, connecting included, before giving up." },
};

/* The broker's rule for names (db/db.h DB_NAME_RULE), repeated here because
 * the thin client links nothing of the broker: a typo is caught before it
 * reaches the broker, which checks again. */
#define POOL_NAME_MAX 32
#define POOL_NAME_RULE "1 to 32 characters: letters, digits, '.', '_' or '-', " \
    "starting with a letter or digit"
#define LAYOUT_MAX 64

static char **str_field(struct tc_conf *cfg, const struct setting *s)
{
    return (char **)((char *)cfg + s->offset);
}

static int *int_field(struct tc_conf *cfg, const struct setting *s)
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

static gboolean pool_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len < 1 || len > POOL_NAME_MAX || !g_ascii_isalnum(name[0]))
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return FALSE;
    return TRUE;
}

/* Keyboard layout names as xkb and FreeRDP spell them: "us", "de", "gb",
 * "us(intl)", "de-ch", "pt_BR". */
static gboolean layout_valid(const char *name)
{
    size_t len = strlen(name);

    if (len < 1 || len > LAYOUT_MAX || !g_ascii_isalnum(name[0]))
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && strchr("-_.+()", *p) == NULL)
            return FALSE;
    return TRUE;
}

char *tc_conf_fingerprint_normalize(const char *text)
{
    enum { DIGEST = 32 };
    GString *out = NULL;
    const char *p;
    gboolean pairs;

    if (text == NULL || g_ascii_strncasecmp(text, "sha256:", 7) != 0)
        return NULL;
    p = text + 7;
    /* "AA:BB:..." is 32 pairs and 31 colons; "AABB..." is 64 digits. */
    if (strlen(p) == DIGEST * 3 - 1)
        pairs = TRUE;
    else if (strlen(p) == DIGEST * 2)
        pairs = FALSE;
    else
        return NULL;
    out = g_string_new("sha256");
    for (int i = 0; i < DIGEST; i++) {
        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) ||
            (pairs && i < DIGEST - 1 && p[2] != ':')) {
            g_string_free(out, TRUE);
            return NULL;
        }
        g_string_append_printf(out, ":%c%c", g_ascii_toupper(p[0]), g_ascii_toupper(p[1]));
        p += pairs ? 3 : 2;
    }
    return g_string_free(out, FALSE);
}

/* Check value for s and store it in cfg. On failure returns FALSE, leaves cfg
 * as it was, and says why in *reason (caller frees), without the setting's
 * name: the caller puts "path:line: name" or "--option" before it. */
static gboolean setting_apply(struct tc_conf *cfg, const struct setting *s, const char *value,
                              char **reason)
{
    g_autofree char *store = NULL; /* the string to keep, when not value itself */

    if (value[0] == '\0') {
        if (!s->may_unset) {
            *reason = g_strdup("must not be empty");
            return FALSE;
        }
        g_clear_pointer(str_field(cfg, s), g_free);
        if (s->type == SET_BROKER) {
            g_clear_pointer(&cfg->broker_host, g_free);
            cfg->broker_port = BROKER_ADDR_DEFAULT_PORT;
        }
        return TRUE;
    }
    switch (s->type) {
    case SET_BROKER: {
        g_autoptr(GError) err = NULL;
        char *host = NULL;
        int port = 0;

        if (broker_addr_parse(value, &host, &port, &err) < 0) {
            *reason = g_strdup(err->message);
            return FALSE;
        }
        g_free(cfg->broker_host);
        cfg->broker_host = host;
        cfg->broker_port = port;
        break;
    }
    case SET_POOL:
        if (!pool_name_valid(value)) {
            *reason = g_strdup_printf("'%s' is not a pool name (%s)", value, POOL_NAME_RULE);
            return FALSE;
        }
        break;
    case SET_ENUM:
        if (!g_strv_contains(s->choices, value)) {
            g_autofree char *list = g_strjoinv(" or ", (char **)s->choices);
            *reason = g_strdup_printf("'%s' is not %s", value, list);
            return FALSE;
        }
        break;
    case SET_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            *reason = g_strdup_printf("'%s' must be true or false", value);
            return FALSE;
        }
        *int_field(cfg, s) = value[0] == 't';
        return TRUE;
    case SET_LAYOUT:
        if (!layout_valid(value)) {
            *reason = g_strdup_printf("'%s' is not a keyboard layout name (letters, digits and "
                                      "-_.+(), at most %d)", value, LAYOUT_MAX);
            return FALSE;
        }
        break;
    case SET_PATH:
        if (!g_path_is_absolute(value)) {
            *reason = g_strdup_printf("'%s' must be an absolute path", value);
            return FALSE;
        }
        if (strpbrk(value, "\n\r") != NULL) {
            *reason = g_strdup("must be on one line");
            return FALSE;
        }
        break;
    case SET_FINGERPRINT:
        store = tc_conf_fingerprint_normalize(value);
        if (store == NULL) {
            *reason = g_strdup_printf("'%s' is not a SHA-256 fingerprint: write it as aulad "
                                      "logs it, sha256: and 32 pairs of hex digits separated by "
                                      "':'", value);
            return FALSE;
        }
        break;
    case SET_INT: {
        gint64 n = 0;

        if (!g_ascii_string_to_signed(value, 10, s->min, s->max, &n, NULL)) {
            *reason = g_strdup_printf("'%s' must be a whole number from %d to %d", value, s->min,
                                      s->max);
            return FALSE;
        }
        *int_field(cfg, s) = (int)n;
        return TRUE;
    }
    }
    g_free(*str_field(cfg, s));
    *str_field(cfg, s) = store != NULL ? g_steal_pointer(&store) : g_strdup(value);
    return TRUE;
}

/* known_brokers' default: in the user's configuration directory, or the
 * system's state directory for a client without a home (HOME unset). */
static char *default_known_brokers(void)
{
    const char *xdg = g_getenv("XDG_CONFIG_HOME");
    const char *home = g_getenv("HOME");

    if (xdg != NULL && g_path_is_absolute(xdg))
        return g_build_filename(xdg, "aula", "known_brokers", NULL);
    if (home != NULL && g_path_is_absolute(home))
        return g_build_filename(home, ".config", "aula", "known_brokers", NULL);
    return g_strdup(TC_CONF_SYSTEM_KNOWN_BROKERS);
}

struct tc_conf *tc_conf_new_defaults(void)
{
    struct tc_conf *cfg = g_new0(struct tc_conf, 1);

    cfg->broker_port = BROKER_ADDR_DEFAULT_PORT;
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        g_autofree char *reason = NULL;
        gboolean ok;

        if (settings[i].def == NULL)
            continue;
        ok = setting_apply(cfg, &settings[i], settings[i].def, &reason);
        g_assert(ok); /* the table's own defaults are valid */
    }
    cfg->known_brokers = default_known_brokers();
    return cfg;
}

void tc_conf_free(struct tc_conf *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++)
        if (settings[i].type != SET_INT && settings[i].type != SET_BOOL)
            g_free(*str_field(cfg, &settings[i]));
    g_free(cfg->broker_host);
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
        char *eq;

        n++;
        /* Only '#' starts a comment, as in GKeyFile. */
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (line[0] == '[') {
            size_t len = strlen(line);

            if (len < 3 || line[len - 1] != ']') {
                g_set_error(error, TC_CONF_ERROR, EINVAL, "%s:%d: malformed section header '%s'",
                            path, n, line);
                return -EINVAL;
            }
            g_free(group);
            group = g_strndup(line + 1, len - 2);
            if (strcmp(group, TC_CONF_GROUP) != 0) {
                g_set_error(error, TC_CONF_ERROR, EINVAL,
                            "%s:%d: unknown section [%s] (settings go under [" TC_CONF_GROUP "])",
                            path, n, group);
                return -EINVAL;
            }
            continue;
        }
        eq = strchr(line, '=');
        if (eq == NULL) {
            g_set_error(error, TC_CONF_ERROR, EINVAL, "%s:%d: expected 'name = value', got '%s'",
                        path, n, line);
            return -EINVAL;
        }
        if (group == NULL) {
            g_set_error(error, TC_CONF_ERROR, EINVAL,
                        "%s:%d: setting outside a section (start the file with [" TC_CONF_GROUP
                        "])", path, n);
            return -EINVAL;
        }
        *eq = '\0';
        g_strstrip(line);
        if (find_setting(line) == NULL) {
            g_set_error(error, TC_CONF_ERROR, EINVAL, "%s:%d: unknown setting '%s'", path, n,
                        line);
            return -EINVAL;
        }
        if (g_hash_table_contains(keys, line)) {
            g_set_error(error, TC_CONF_ERROR, EINVAL, "%s:%d: '%s' is already set on line %d",
                        path, n, line, GPOINTER_TO_INT(g_hash_table_lookup(keys, line)));
            return -EINVAL;
        }
        g_hash_table_insert(keys, g_strdup(line), GINT_TO_POINTER(n));
    }
    return 0;
}

int tc_conf_parse(const char *path, const char *text, gsize len, struct tc_conf **cfgp,
                  GError **error)
{
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    struct tc_conf *cfg = NULL;
    int r = -EINVAL;

    if (memchr(text, '\0', len) != NULL || !g_utf8_validate(text, (gssize)len, NULL)) {
        g_set_error(error, TC_CONF_ERROR, EINVAL, "%s: not a UTF-8 text file", path);
        goto out;
    }
    r = scan_lines(path, text, keys, error);
    if (r < 0)
        goto out;
    r = -EINVAL;
    if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &err)) {
        g_set_error(error, TC_CONF_ERROR, EINVAL, "%s: %s", path, err->message);
        goto out;
    }
    cfg = tc_conf_new_defaults();
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        g_autofree char *value = NULL, *reason = NULL;

        if (!g_key_file_has_key(kf, TC_CONF_GROUP, s->name, NULL))
            continue;
        value = g_key_file_get_string(kf, TC_CONF_GROUP, s->name, &err);
        if (value == NULL) {
            reason = g_strdup(err->message);
        } else {
            g_strstrip(value);
            if (setting_apply(cfg, s, value, &reason))
                continue;
        }
        g_set_error(error, TC_CONF_ERROR, EINVAL, "%s:%d: %s: %s", path,
                    GPOINTER_TO_INT(g_hash_table_lookup(keys, s->name)), s->name, reason);
        goto out;
    }
    *cfgp = cfg;
    cfg = NULL;
    r = 0;
out:
    tc_conf_free(cfg);
    return r;
}

int tc_conf_load(const char *path, struct tc_conf **cfgp, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, &err)) {
        int r = g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? -ENOENT : -EIO;

        g_set_error(error, TC_CONF_ERROR, -r, "%s", err->message);
        return r;
    }
    return tc_conf_parse(path, text, len, cfgp, error);
}

/* The value of s in cfg as it would be written in the file ("" for unset).
 * Caller frees. */
static char *setting_text(const struct tc_conf *cfg, const struct setting *s)
{
    struct tc_conf *c = (struct tc_conf *)cfg;

    if (s->type == SET_BOOL)
        return g_strdup(*int_field(c, s) ? "true" : "false");
    if (s->type == SET_INT)
        return g_strdup_printf("%d", *int_field(c, s));
    return g_strdup(*str_field(c, s) ? *str_field(c, s) : "");
}

void tc_conf_dump(const struct tc_conf *cfg, FILE *out)
{
    fprintf(out, "# client.conf: settings of aula-client\n[" TC_CONF_GROUP "]\n");
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        g_autofree char *value = setting_text(cfg, s);
        g_auto(GStrv) words = g_strsplit(s->help, " ", -1);
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
        if (s->def != NULL)
            fprintf(out, "\n# default: %s", s->def);
        else if (s->may_unset)
            fputs("\n# default: not set", out);
        fprintf(out, "\n%s = %s\n", s->name, value);
    }
}

/* ---- the command line ---- */

struct tc_conf_cmdline {
    GHashTable *values;   /* setting name -> value, checked and made absolute */
    char *config_path;    /* --config, or NULL */
    GPtrArray *strings;   /* the option names and descriptions the entries point to */
};

struct tc_conf_cmdline *tc_conf_cmdline_new(void)
{
    struct tc_conf_cmdline *cl = g_new0(struct tc_conf_cmdline, 1);

    cl->values = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    cl->strings = g_ptr_array_new_with_free_func(g_free);
    return cl;
}

void tc_conf_cmdline_free(struct tc_conf_cmdline *cl)
{
    if (cl == NULL)
        return;
    g_hash_table_unref(cl->values);
    g_ptr_array_unref(cl->strings);
    g_free(cl->config_path);
    g_free(cl);
}

/* "--keyboard-layout" -> the keyboard_layout row. */
static const struct setting *setting_for_option(const char *option_name)
{
    g_autofree char *name = NULL;

    while (*option_name == '-')
        option_name++;
    name = g_strdelimit(g_strdup(option_name), "-", '_');
    return find_setting(name);
}

/* One option's value: check it (on a scratch config, so that the message
 * comes at once, from GOption) and keep it. */
static gboolean on_option(const char *option_name, const char *value, gpointer data,
                          GError **error)
{
    struct tc_conf_cmdline *cl = data;
    const struct setting *s = setting_for_option(option_name);
    struct tc_conf *scratch = NULL;
    g_autofree char *reason = NULL, *text = NULL;
    gboolean ok;

    if (s == NULL) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "%s: unknown option",
                    option_name);
        return FALSE;
    }
    if (value == NULL)  /* a boolean option without "=value" turns the setting on */
        text = g_strdup("true");
    else if (s->type == SET_PATH && value[0] != '\0')
        text = g_canonicalize_filename(value, NULL);
    else
        text = g_strdup(value);
    scratch = tc_conf_new_defaults();
    ok = setting_apply(scratch, s, text, &reason);
    tc_conf_free(scratch);
    if (!ok) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: %s", option_name,
                    reason);
        return FALSE;
    }
    g_hash_table_replace(cl->values, (gpointer)s->name, g_steal_pointer(&text));
    return TRUE;
}

/* --config FILE. */
static gboolean on_config(const char *option_name, const char *value, gpointer data,
                          GError **error)
{
    struct tc_conf_cmdline *cl = data;

    if (value[0] == '\0') {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s: no file name",
                    option_name);
        return FALSE;
    }
    g_free(cl->config_path);
    cl->config_path = g_canonicalize_filename(value, NULL);
    return TRUE;
}

/* The first sentence of a help text. Caller frees. */
static char *first_sentence(const char *help)
{
    const char *end = strstr(help, ". ");

    return end != NULL ? g_strndup(help, (gsize)(end - help + 1)) : g_strdup(help);
}

GOptionGroup *tc_conf_cmdline_group(struct tc_conf_cmdline *cl)
{
    GOptionGroup *group = g_option_group_new("client", "aula-client's settings",
                                             "Show the settings' options", cl, NULL);
    GOptionEntry entries[G_N_ELEMENTS(settings) + 2];
    size_t n = 0;

    memset(entries, 0, sizeof(entries));
    entries[n++] = (GOptionEntry){ "config", 0, 0, G_OPTION_ARG_CALLBACK, (gpointer)on_config,
                                   "Read the settings from FILE (default " TC_CONF_DEFAULT_PATH
                                   ")", "FILE" };
    for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
        const struct setting *s = &settings[i];
        char *long_name = g_strdelimit(g_strdup(s->name), "_", '-');
        char *description = first_sentence(s->help);

        g_ptr_array_add(cl->strings, long_name);
        g_ptr_array_add(cl->strings, description);
        entries[n++] = (GOptionEntry){
            long_name, 0, s->type == SET_BOOL ? G_OPTION_FLAG_OPTIONAL_ARG : 0,
            G_OPTION_ARG_CALLBACK, (gpointer)on_option, description,
            s->type == SET_BOOL ? "true|false" : s->arg,
        };
    }
    g_option_group_add_entries(group, entries);
    return group;
}

int tc_conf_from_cmdline_at(const struct tc_conf_cmdline *cl, const char *default_path,
                            struct tc_conf **cfgp, GError **error)
{
    const char *path = cl->config_path != NULL ? cl->config_path : default_path;
    struct tc_conf *cfg = NULL;
    GHashTableIter it;
    gpointer key, value;
    int r;

    r = tc_conf_load(path, &cfg, error);
    if (r == -ENOENT && cl->config_path == NULL) {
        g_clear_error(error);
        cfg = tc_conf_new_defaults();
        r = 0;
    }
    if (r < 0)
        goto out;
    g_hash_table_iter_init(&it, cl->values);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const struct setting *s = find_setting(key);
        g_autofree char *reason = NULL;

        /* Each value was checked as it was parsed. */
        if (!setting_apply(cfg, s, value, &reason)) {
            g_autofree char *option = g_strdelimit(g_strdup(s->name), "_", '-');

            g_set_error(error, TC_CONF_ERROR, EINVAL, "--%s: %s", option, reason);
            r = -EINVAL;
            goto out;
        }
    }
    *cfgp = cfg;
    cfg = NULL;
    r = 0;
out:
    tc_conf_free(cfg);
    return r;
}

int tc_conf_from_cmdline(const struct tc_conf_cmdline *cl, struct tc_conf **cfgp, GError **error)
{
    return tc_conf_from_cmdline_at(cl, TC_CONF_DEFAULT_PATH, cfgp, error);
}
