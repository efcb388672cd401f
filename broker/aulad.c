/* aulad: the aula broker daemon. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/admin_api.h"
#include "broker/admin_server.h"
#include "broker/auth.h"
#include "broker/client_api.h"
#include "broker/conf.h"
#include "broker/log.h"
#include "broker/pool.h"
#include "broker/ratelimit.h"
#include "broker/session.h"
#include "broker/ticket.h"
#include "broker/tls.h"
#include "db/db.h"

struct daemon {
    char *config_path;      /* NULL: built-in defaults */
    struct conf *cfg;
    struct db *db;
    struct admin_api *api;
    struct admin_server *admin;
    struct pool_mgr *pools;
    struct auth auth;
    struct tls_identity *tls;
    struct ticket_store *tickets;
    struct ratelimit *login_by_user, *login_by_addr;
    struct client_api *client_api;
    struct session_mgr *sessions;
    GMainLoop *loop;
    int lock_fd;
};

static char *opt_config;
static gboolean opt_foreground;
static gboolean opt_dump_config;
static gboolean opt_man_settings;
static gboolean opt_version;

static const GOptionEntry options[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
      "Read settings from FILE (default " CONF_DEFAULT_PATH ")", "FILE" },
    { "foreground", 'f', 0, G_OPTION_ARG_NONE, &opt_foreground,
      "Stay in the foreground and log to stderr (for systemd and terminals)", NULL },
    { "dump-config", 0, 0, G_OPTION_ARG_NONE, &opt_dump_config,
      "Print every setting with its effective value and help, then exit", NULL },
    { "man-settings", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &opt_man_settings,
      "Print the settings as roff for aulad.conf(5)", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL },
};

static void add_listener(JsonBuilder *b, const char *name, const char *address, const char *state)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "address");
    json_builder_add_string_value(b, address);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, state);
    json_builder_end_object(b);
}

/* Status facts only the daemon knows: the listeners. */
static void status_extra(JsonBuilder *b, void *data)
{
    struct daemon *d = data;
    const struct conf *cfg = d->cfg;
    g_autofree char *api = g_strdup_printf("%s port %d", cfg->api_address, cfg->api_port);

    json_builder_set_member_name(b, "listeners");
    json_builder_begin_array(b);
    add_listener(b, "admin", cfg->admin_socket, "listening");
    add_listener(b, "client-api", api, "listening (HTTPS)");
    session_mgr_listeners(d->sessions, b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "session_processes");
    json_builder_add_int_value(b, session_mgr_count(d->sessions));
    json_builder_set_member_name(b, "tls_fingerprint");
    json_builder_add_string_value(b, d->tls ? d->tls->fingerprint : "");
}

/* ---- start-up ---- */

/* Create state_dir and take its lock, so two daemons never share a database. */
static int take_lock(struct daemon *d, GError **error)
{
    g_autofree char *path = g_build_filename(d->cfg->state_dir, "aulad.lock", NULL);
    char pid[32] = "";
    struct stat st;
    int fd;

    /* 0711: libvirt's QEMU (user libvirt-qemu) must reach the images below it;
     * nobody else may list it, and the database inside is 0640. */
    if (g_mkdir_with_parents(d->cfg->state_dir, 0711) < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create %s: %s",
                    d->cfg->state_dir, g_strerror(e));
        return -e;
    }
    /* umask and a pre-made directory may have taken the others' search bit. */
    if (stat(d->cfg->state_dir, &st) == 0 && !(st.st_mode & S_IXOTH) &&
        chmod(d->cfg->state_dir, (st.st_mode & 07777) | S_IXOTH) < 0)
        g_warning("cannot make %s searchable for libvirt's QEMU: %s", d->cfg->state_dir,
                  g_strerror(errno));
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot open %s: %s", path,
                    g_strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        g_strchomp(pid);
        close(fd);
        if (e == EWOULDBLOCK) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST,
                        "another aulad (pid %s) is using %s: two daemons can never share a database",
                        pid[0] ? pid : "unknown", d->cfg->state_dir);
            return -EBUSY;
        }
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot lock %s: %s", path,
                    g_strerror(e));
        return -e;
    }
    g_snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        g_warning("cannot write the pid to %s: %s", path, g_strerror(errno));
    d->lock_fd = fd;
    return 0;
}

static gboolean on_quit(gpointer data)
{
    struct daemon *d = data;

    g_message("stopping on signal");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

/* SIGHUP: re-read the config file and apply what can change at run time. */
static gboolean on_reload(gpointer data)
{
    struct daemon *d = data;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) restart = NULL;
    struct conf *fresh = NULL;

    if (d->config_path == NULL) {
        g_message("SIGHUP: no config file to reload (running on built-in defaults)");
        return G_SOURCE_CONTINUE;
    }
    if (conf_load(d->config_path, &fresh, &err) < 0) {
        g_warning("SIGHUP: keeping the running settings: %s", err->message);
        return G_SOURCE_CONTINUE;
    }
    restart = conf_reload(d->cfg, fresh);
    conf_free(fresh);
    log_set_level(d->cfg->log_level);
    if (restart[0]) {
        g_autofree char *list = g_strjoinv(", ", restart);
        g_warning("SIGHUP: reloaded %s; changed settings that need a restart: %s", d->config_path,
                  list);
    } else {
        g_message("SIGHUP: reloaded %s (the settings aulad.conf(5) marks as reloaded on SIGHUP; "
                  "log_level = %s)", d->config_path, d->cfg->log_level);
    }
    pool_mgr_kick(d->pools);
    return G_SOURCE_CONTINUE;
}

/* Fork into the background; the parent waits until the child is serving (or
 * has failed, having printed why) and exits with its verdict. Returns the fd
 * the child writes its readiness to, or -1 in the foreground. */
static int daemonize(void)
{
    int pipefd[2];
    pid_t pid;
    char ok = 0;

    if (pipe(pipefd) < 0) {
        g_printerr("aulad: pipe: %s\n", g_strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        g_printerr("aulad: fork: %s\n", g_strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(pipefd[1]);
        exit(read(pipefd[0], &ok, 1) == 1 && ok == 1 ? 0 : 1);
    }
    close(pipefd[0]);
    if (setsid() < 0)
        g_printerr("aulad: setsid: %s\n", g_strerror(errno));
    if (chdir("/") < 0)
        g_printerr("aulad: chdir /: %s\n", g_strerror(errno));
    return pipefd[1];
}

/* Tell the waiting parent we are serving, and detach from the terminal. */
static void daemon_ready(int ready_fd)
{
    char ok = 1;
    int null;

    if (ready_fd < 0)
        return;
    if (write(ready_fd, &ok, 1) != 1)
        g_warning("cannot signal readiness: %s", g_strerror(errno));
    close(ready_fd);
    null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    log_setup("aulad", TRUE);
}

static int load_config(struct daemon *d)
{
    g_autoptr(GError) err = NULL;
    int r;

    if (opt_config == NULL && g_file_test(CONF_DEFAULT_PATH, G_FILE_TEST_EXISTS))
        opt_config = g_strdup(CONF_DEFAULT_PATH);
    if (opt_config == NULL) {
        d->cfg = conf_new_defaults();
        return 0;
    }
    /* Absolute, so SIGHUP still finds it after daemon mode's chdir("/"). */
    d->config_path = g_canonicalize_filename(opt_config, NULL);
    r = conf_load(d->config_path, &d->cfg, &err);
    if (r < 0) {
        g_printerr("aulad: %s\n", err->message);
        return r;
    }
    return 0;
}

static int run(struct daemon *d)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *db_path = conf_db_path(d->cfg);
    int ready_fd = -1;
    int r;

    log_setup("aulad", FALSE);
    log_set_level(d->cfg->log_level);
    if (!opt_foreground)
        ready_fd = daemonize();
    umask(027);
    r = take_lock(d, &err);
    if (r == 0) {
        r = db_open(db_path, &d->db, &err);
        if (r < 0)
            g_prefix_error(&err, "cannot use the database: ");
    }
    if (r == 0)
        r = db_host_ensure(d->db, "aulad", "local", d->cfg->libvirt_uri, &err);
    if (r == 0) {
        d->pools = pool_mgr_new(d->db, d->cfg);
        d->api = admin_api_new(d->db, d->cfg);
        admin_api_set_status_fn(d->api, status_extra, d);
        admin_api_set_pool_mgr(d->api, d->pools);
        r = admin_server_start(d->api, d->cfg, &d->admin, &err);
    }
    if (r == 0) {
        r = tls_identity_ensure(d->cfg->state_dir, &d->tls, &err);
        if (r < 0)
            g_prefix_error(&err, "TLS certificate: ");
    }
    if (r == 0) {
        struct client_api_deps api_deps;
        struct session_deps sess_deps;

        d->auth.impl = &auth_local_impl;
        d->auth.ctx = d->db;
        d->tickets = ticket_store_new(d->db, &d->cfg->ticket_lifetime);
        d->login_by_user = ratelimit_new(&d->cfg->login_max_failures, &d->cfg->login_lockout);
        d->login_by_addr = ratelimit_new(&d->cfg->login_max_failures, &d->cfg->login_lockout);
        api_deps = (struct client_api_deps){ d->db, d->cfg, &d->auth, d->tickets, d->login_by_user,
                                             d->login_by_addr, d->tls };
        sess_deps = (struct session_deps){ d->db, d->cfg, &d->auth, d->pools, d->tickets,
                                           d->login_by_user, d->login_by_addr, d->tls->cert_path,
                                           d->tls->key_path };
        r = client_api_start(&api_deps, &d->client_api, &err);
        if (r == 0)
            r = session_mgr_start(&sess_deps, &d->sessions, &err);
        if (r == 0)
            admin_api_set_session_mgr(d->api, d->sessions);
    }
    if (r < 0) {
        g_critical("%s", err->message);
        return 1;
    }
    g_unix_signal_add(SIGTERM, on_quit, d);
    g_unix_signal_add(SIGINT, on_quit, d);
    g_unix_signal_add(SIGHUP, on_reload, d);
    g_message("aulad %s ready: state in %s (schema v%d), admin API on %s (root and group '%s')",
              PACKAGE_VERSION, d->cfg->state_dir, db_schema_version(d->db), d->cfg->admin_socket,
              d->cfg->admin_group);
    g_message("client API on https://%s port %d (certificate %s), VNC on %s port %d, "
              "RDP on %s port %d",
              d->cfg->api_address, d->cfg->api_port, d->tls->fingerprint, d->cfg->vnc_address,
              d->cfg->vnc_port, d->cfg->rdp_address, d->cfg->rdp_port);
    daemon_ready(ready_fd);
    d->loop = g_main_loop_new(NULL, FALSE);
    g_main_loop_run(d->loop);
    /* Waiting requests get their answer and VM operations under way finish
     * (their results recorded) while the main loop can still send answers. */
    pool_mgr_cancel_waiters(d->pools);
    session_mgr_free(d->sessions);
    d->sessions = NULL;
    admin_api_set_session_mgr(d->api, NULL);
    client_api_free(d->client_api);
    d->client_api = NULL;
    pool_mgr_drain(d->pools);
    for (int i = 0; i < 20; i++) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(10 * 1000);
    }
    pool_mgr_free(d->pools);
    d->pools = NULL;
    g_message("stopped");
    return 0;
}

static void daemon_cleanup(struct daemon *d)
{
    session_mgr_free(d->sessions);
    client_api_free(d->client_api);
    pool_mgr_free(d->pools);
    admin_server_free(d->admin);
    admin_api_free(d->api);
    ticket_store_free(d->tickets);
    ratelimit_free(d->login_by_user);
    ratelimit_free(d->login_by_addr);
    tls_identity_free(d->tls);
    db_close(d->db);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    conf_free(d->cfg);
    g_free(d->config_path);
    if (d->loop)
        g_main_loop_unref(d->loop);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the aula VDI broker");
    g_autoptr(GError) err = NULL;
    struct daemon d = { .lock_fd = -1 };
    int code;

    g_option_context_add_main_entries(ctx, options, NULL);
    g_option_context_set_description(ctx,
        "aulad is the aula broker: it owns the database of users, groups, templates and pools,\n"
        "keeps its pools of desktop VMs on libvirt, and serves the admin API that aulactl(1) uses.\n"
        "Settings are described in aulad.conf(5); `aulad --dump-config` prints them all.\n"
        "Signals: SIGTERM or SIGINT stop cleanly; SIGHUP reloads the settings marked so in\n"
        "aulad.conf(5) and in `aulad --dump-config`.");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        g_printerr("aulad: %s (try --help)\n", err->message);
        return 2;
    }
    if (argc > 1) {
        g_printerr("aulad: unexpected argument '%s' (try --help)\n", argv[1]);
        return 2;
    }
    if (opt_version) {
        printf("aulad %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (opt_man_settings) {
        conf_dump_man(stdout);
        return 0;
    }
    if (load_config(&d) < 0) {
        code = 1;
        goto out;
    }
    if (opt_dump_config) {
        conf_dump(d.cfg, stdout);
        code = 0;
        goto out;
    }
    code = run(&d);
out:
    daemon_cleanup(&d);
    g_free(opt_config);
    return code;
}
