/* thinclient/tc_conf: aula-client's settings.
 *
 * They come from the [client] group of /etc/aula/client.conf (a GKeyFile),
 * and from the command line, which wins over the file. Every setting is
 * declared once, in the settings[] table of tc_conf.c: the file parser, the
 * command-line options with their --help text, and tc_conf_dump() all come
 * from it. A key the table does not know is refused, so that a typo cannot
 * silently leave a security setting at its default.
 *
 * Errors are in the TC_CONF_ERROR domain, code the positive errno:
 *   EINVAL  a bad value, an unknown key or section, a malformed line; the
 *           message is "path:line: reason" for the file and
 *           "--option: reason" for the command line
 *   ENOENT  the file is missing
 *   EIO     the file cannot be read */
#ifndef AULA_THINCLIENT_TC_CONF_H
#define AULA_THINCLIENT_TC_CONF_H

#include <glib.h>
#include <stdio.h>

#define TC_CONF_GROUP "client"
#define TC_CONF_DEFAULT_PATH SYSCONFDIR "/aula/client.conf"
/* known_brokers of a client that runs without HOME (a kiosk's system user). */
#define TC_CONF_SYSTEM_KNOWN_BROKERS LOCALSTATEDIR "/lib/aula-client/known_brokers"

#define TC_CONF_ERROR (tc_conf_error_quark())
GQuark tc_conf_error_quark(void);

struct tc_conf {
    char *broker;          /* HOST[:PORT] as given, or NULL: not set */
    char *broker_host;     /* broker's host (no brackets); NULL when broker is */
    int broker_port;       /* broker's port (8443 unless given) */
    char *pool;            /* pool to connect to, or NULL: the user picks one */
    char *protocol;        /* "rdp" or "vnc" */
    int fullscreen;        /* boolean */
    int kiosk;             /* boolean: no way out of the client but logging off */
    char *keyboard_layout; /* "us", "de", ... */
    char *ca_file;         /* PEM file of CAs to check the broker's certificate, or NULL */
    char *fingerprint;     /* pinned "sha256:AA:BB:..." (upper case), or NULL */
    int tofu;              /* boolean: trust a broker's certificate on first use */
    char *known_brokers;   /* where tofu keeps the fingerprints it has seen */
    int timeout;           /* seconds to wait for the broker */
};

/* A config with every setting at its default. known_brokers' default is
 * $XDG_CONFIG_HOME/aula/known_brokers, else ~/.config/aula/known_brokers,
 * else (HOME unset) TC_CONF_SYSTEM_KNOWN_BROKERS. Caller frees. */
struct tc_conf *tc_conf_new_defaults(void);
void tc_conf_free(struct tc_conf *cfg);

/* Parse the text of a config file (len bytes; path names it in messages)
 * over the defaults. Caller frees *cfgp. */
int tc_conf_parse(const char *path, const char *text, gsize len, struct tc_conf **cfgp,
                  GError **error);

/* Read and parse path; -ENOENT when it is missing. Caller frees *cfgp. */
int tc_conf_load(const char *path, struct tc_conf **cfgp, GError **error);

/* Write cfg as a complete config file, each setting with its help. */
void tc_conf_dump(const struct tc_conf *cfg, FILE *out);

/* Normalize a certificate fingerprint: "sha256:" (any case) and 32 bytes as
 * hex, in pairs separated by ':' or as 64 digits in a row. Returns
 * "sha256:AA:BB:..." in upper case (caller frees), or NULL when text is not
 * such a fingerprint. */
char *tc_conf_fingerprint_normalize(const char *text);

/* ---- the command line ---- */

/* The values of the command-line options, as parsed. */
struct tc_conf_cmdline;

/* Caller frees with tc_conf_cmdline_free(), after the option context. */
struct tc_conf_cmdline *tc_conf_cmdline_new(void);
void tc_conf_cmdline_free(struct tc_conf_cmdline *cl);

/* The options, one per setting (--broker, --keyboard-layout, ...; a boolean
 * one is --kiosk or --kiosk=false), plus --config FILE. Each value is
 * checked as it is parsed; relative paths are taken from the current
 * directory, and an empty value unsets a setting that may be unset.
 * Returns a new group: give it to a GOptionContext, which takes it over
 * (g_option_context_set_main_group()). cl is borrowed, and must outlive the
 * context. */
GOptionGroup *tc_conf_cmdline_group(struct tc_conf_cmdline *cl);

/* The settings for this run: the file given with --config (which must
 * exist), else TC_CONF_DEFAULT_PATH (which may be missing: the defaults),
 * with the command-line options over it. Caller frees *cfgp. */
int tc_conf_from_cmdline(const struct tc_conf_cmdline *cl, struct tc_conf **cfgp,
                         GError **error);

/* As tc_conf_from_cmdline, with the default file at default_path instead of
 * TC_CONF_DEFAULT_PATH (for tests). */
int tc_conf_from_cmdline_at(const struct tc_conf_cmdline *cl, const char *default_path,
                            struct tc_conf **cfgp, GError **error);

#endif
