/* conf: aulad's settings, declared once in one table (conf.c) that the
 * parser, `aulad --dump-config` and the aulad.conf(5) man page all come from. */
#ifndef AULA_CONF_H
#define AULA_CONF_H

#include <glib.h>
#include <stdio.h>

#define CONF_GROUP "aulad"
#define CONF_DEFAULT_PATH SYSCONFDIR "/aula/aulad.conf"

struct conf {
    char *state_dir;
    char *admin_socket;
    char *admin_group;
    char *libvirt_uri;
    char *hypervisor;  /* auto | kvm | qemu */
    char *rdp_address;
    int rdp_port;
    char *vnc_address;
    int vnc_port;
    char *api_address;
    int api_port;
    char *log_level;   /* error | warning | message | info | debug */
    char *storage_pool;          /* libvirt storage pool for templates and VM disks */
    int parallel_provisioning;   /* VM operations running at once */
    int allocate_timeout;        /* seconds a login waits for a VM to start */
    int memory_budget_mib;       /* 0: host memory less memory_reserve_mib */
    int memory_reserve_mib;
    int remove_unknown_domains;  /* boolean: remove aula-* domains the database does not know */
    char *public_address;        /* host name given to clients; "": the one they used for the API */
    int token_lifetime;          /* seconds a client API login token lasts */
    int ticket_lifetime;         /* seconds a one-time connection ticket lasts */
    int login_max_failures;      /* failed logins per user or address before a lockout */
    int login_lockout;           /* seconds of that lockout */
    char *session_user;          /* account aula-session processes run as */
    char *session_program;       /* path of aula-session */
    int max_sessions;            /* session processes at once */
};

/* A config with every setting at its default. Caller frees. */
struct conf *conf_new_defaults(void);
void conf_free(struct conf *cfg);

/* Load path over the defaults. On a bad file returns -EINVAL with
 * "path:line: reason" in *error; -ENOENT if the file is missing. */
int conf_load(const char *path, struct conf **cfgp, GError **error);

/* The same for text already read (len bytes; path names it in messages). */
int conf_parse(const char *path, const char *text, gsize len, struct conf **cfgp, GError **error);

/* Write cfg as a complete, commented config file. */
void conf_dump(const struct conf *cfg, FILE *out);
/* Write the settings as roff for the SETTINGS section of aulad.conf(5). */
void conf_dump_man(FILE *out);

/* Copy the settings that can change while aulad runs from src into dst; the
 * names of changed settings that need a restart are returned (caller frees). */
char **conf_reload(struct conf *dst, const struct conf *src);

/* The database path inside the state directory. Caller frees. */
char *conf_db_path(const struct conf *cfg);

#endif
