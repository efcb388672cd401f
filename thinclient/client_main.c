/* aula-client: log in at an aula broker and show a pool's desktop.
 *
 * For now over VNC only, in one SDL2 window: log in (tc_api), pick the pool
 * (--pool, or the user's only one), get a VNC ticket, and show the desktop
 * until the connection closes.
 *
 * Exit status: 0 when the desktop's connection or the window closed, 1 on
 * an error (the message on stderr), 2 on a usage error or when the user has
 * several pools and none was chosen. */
#include "config.h"

#include "tc_api.h"
#include "tc_conf.h"
#include "vnc_view.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define EXIT_USAGE 2

static gboolean opt_password_stdin;
static char *opt_user;
static gboolean opt_version;

static const GOptionEntry entries[] = {
    { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user,
      "Log in as NAME (default: the local user name)", "NAME" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &opt_password_stdin,
      "Read the password from the first line of standard input", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
    { NULL },
};

/* Drop the line end of a line read with fgets. */
static void chomp(char *s)
{
    s[strcspn(s, "\r\n")] = '\0';
}

/* The password: the first line of stdin, or asked on the terminal without
 * echo. Caller wipes and frees. NULL when there is none to be had. */
static char *read_password(const char *user)
{
    char buf[1024];
    struct termios old, quiet;
    gboolean tty = !opt_password_stdin && isatty(STDIN_FILENO);
    char *r = NULL;

    if (!opt_password_stdin && !tty) {
        fprintf(stderr, "aula-client: no terminal to ask the password on; use --password-stdin\n");
        return NULL;
    }
    if (tty) {
        fprintf(stderr, "Password for %s: ", user);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else {
            tty = FALSE;
        }
    }
    if (fgets(buf, sizeof(buf), stdin)) {
        chomp(buf);
        r = g_strdup(buf);
    }
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    memset(buf, 0, sizeof(buf));
    if (!r)
        fprintf(stderr, "aula-client: no password given\n");
    return r;
}

/* Print a tc_api error for the user. */
static void api_error(const char *what, GError *error)
{
    /* The broker's own message often is the title again. */
    if (error && error->domain == TC_API_ERROR &&
        g_ascii_strcasecmp(error->message, tc_api_strerror(error->code)) == 0)
        fprintf(stderr, "aula-client: %s: %s\n", what, error->message);
    else if (error && error->domain == TC_API_ERROR)
        fprintf(stderr, "aula-client: %s: %s (%s)\n", what, tc_api_strerror(error->code),
                error->message);
    else
        fprintf(stderr, "aula-client: %s: %s\n", what, error ? error->message : "failed");
}

/* The pool to use: cfg's, else the user's only pool. Caller frees. NULL
 * with *statusp set when there is none to choose. */
static char *choose_pool(struct tc_api *api, const struct tc_conf *cfg, int *statusp)
{
    g_autoptr(GPtrArray) pools = NULL;
    GError *error = NULL;

    if (cfg->pool)
        return g_strdup(cfg->pool);
    if (tc_api_pools(api, &pools, &error) < 0) {
        api_error("cannot list the pools", error);
        g_error_free(error);
        *statusp = EXIT_FAILURE;
        return NULL;
    }
    if (pools->len == 1)
        return g_strdup(((struct tc_pool *)pools->pdata[0])->name);
    if (pools->len == 0) {
        fprintf(stderr, "aula-client: you may use no pool; ask your administrator\n");
        *statusp = EXIT_FAILURE;
        return NULL;
    }
    fprintf(stderr, "aula-client: you may use several pools; choose one with --pool:\n");
    for (guint i = 0; i < pools->len; i++) {
        const struct tc_pool *p = pools->pdata[i];
        fprintf(stderr, "  %s%s\n", p->name, p->available ? "" : " (no desktop available now)");
    }
    *statusp = EXIT_USAGE;
    return NULL;
}

int main(int argc, char **argv)
{
    struct tc_conf_cmdline *cl = tc_conf_cmdline_new();
    GOptionContext *ctx = g_option_context_new("- show an aula desktop");
    struct tc_conf *cfg = NULL;
    struct tc_api *api = NULL;
    struct tc_ticket *ticket = NULL;
    struct vnc_view *vv = NULL;
    GError *error = NULL;
    char *password = NULL, *pool = NULL, *title = NULL, *cause = NULL;
    const char *user;
    int status = EXIT_FAILURE;

    g_option_context_set_main_group(ctx, tc_conf_cmdline_group(cl));
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(
        ctx, "Logs in at an aula broker and shows a desktop of one of the user's pools in a\n"
             "window. For now the desktop is shown over VNC only (the protocol setting is\n"
             "not used yet). When the user may use several pools and none is given with\n"
             "--pool, the pools are listed and aula-client exits with status 2 (a chooser\n"
             "on the screen comes later).");
    g_option_context_set_description(
        ctx, "Exit status: 0 when the desktop's connection or the window closed, 1 on an\n"
             "error, 2 on a usage error or when a pool must be chosen.");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "aula-client: %s\n", error->message);
        status = EXIT_USAGE;
        goto out;
    }
    if (opt_version) {
        printf("aula-client %s\n", PACKAGE_VERSION);
        status = EXIT_SUCCESS;
        goto out;
    }
    if (argc > 1) {
        fprintf(stderr, "aula-client: unexpected argument '%s'\n", argv[1]);
        status = EXIT_USAGE;
        goto out;
    }
    if (tc_conf_from_cmdline(cl, &cfg, &error) < 0) {
        fprintf(stderr, "aula-client: %s\n", error->message);
        status = error->code == EINVAL ? EXIT_USAGE : EXIT_FAILURE;
        goto out;
    }
    if (!cfg->broker) {
        fprintf(stderr, "aula-client: no broker: give --broker HOST[:PORT] or set broker in %s\n",
                TC_CONF_DEFAULT_PATH);
        status = EXIT_USAGE;
        goto out;
    }
    user = opt_user ? opt_user : g_get_user_name();
    if (tc_api_new(cfg, &api, &error) < 0) {
        api_error("settings", error);
        goto out;
    }
    password = read_password(user);
    if (!password)
        goto out;
    if (tc_api_login(api, user, password, NULL, &error) < 0) {
        api_error("cannot log in", error);
        goto out;
    }
    pool = choose_pool(api, cfg, &status);
    if (!pool)
        goto out;
    status = EXIT_FAILURE;
    if (tc_api_connect(api, pool, "vnc", &ticket, &error) < 0) {
        api_error("cannot get a desktop", error);
        goto out;
    }
    /* The ticket alone opens the desktop: the login is not needed any more. */
    if (tc_api_logout(api, NULL) < 0)
        fprintf(stderr, "aula-client: the broker did not take the logout; going on\n");

    title = g_strdup_printf("aula \xe2\x80\x94 %s", pool);
    if (vnc_view_new(ticket->host, ticket->port, ticket->ticket, title, cfg->fullscreen, &vv,
                     &cause) < 0) {
        fprintf(stderr, "aula-client: cannot show the desktop: %s\n", cause);
        goto out;
    }
    tc_ticket_free(ticket);
    ticket = NULL;
    if (vnc_view_run(vv) == VNC_VIEW_CLOSED_BY_SERVER)
        fprintf(stderr, "aula-client: the desktop's connection closed\n");
    status = EXIT_SUCCESS;
out:
    vnc_view_free(vv);
    tc_ticket_free(ticket);
    tc_api_free(api);
    tc_conf_free(cfg);
    if (password) {
        memset(password, 0, strlen(password));
        g_free(password);
    }
    g_free(pool);
    g_free(title);
    g_free(cause);
    g_clear_error(&error);
    g_option_context_free(ctx);
    tc_conf_cmdline_free(cl);
    g_free(opt_user);
    return status;
}
