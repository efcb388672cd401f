/* log: GLib structured-log writer for aulad. */
#include "config.h"

#include "broker/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static GLogLevelFlags max_level = G_LOG_LEVEL_INFO;
static gboolean use_syslog;
static const char *log_ident = "aula";

static const struct {
    const char *name;
    GLogLevelFlags level;
    int syslog_prio;
} levels[] = {
    { "error", G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL, LOG_ERR },
    { "warning", G_LOG_LEVEL_WARNING, LOG_WARNING },
    { "message", G_LOG_LEVEL_MESSAGE, LOG_NOTICE },
    { "info", G_LOG_LEVEL_INFO, LOG_INFO },
    { "debug", G_LOG_LEVEL_DEBUG, LOG_DEBUG },
};

int log_set_level(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(levels); i++) {
        if (strcmp(levels[i].name, name) == 0) {
            max_level = levels[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

/* Index into levels[] of a GLib level. */
static size_t level_index(GLogLevelFlags level)
{
    for (size_t i = 0; i < G_N_ELEMENTS(levels); i++)
        if (level & levels[i].level)
            return i;
    return G_N_ELEMENTS(levels) - 1;
}

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                               gpointer data)
{
    size_t li = level_index(level), max = level_index(max_level);
    const char *message = NULL, *domain = NULL;

    if (li > max)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n_fields; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
        else if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0)
            domain = fields[i].value;
    }
    /* Libraries' debug chatter (libvirt-glib's event loop, say) is not aulad's. */
    if ((level & G_LOG_LEVEL_DEBUG) && g_strcmp0(domain, G_LOG_DOMAIN) != 0)
        return G_LOG_WRITER_HANDLED;
    if (message == NULL)
        message = "(no message)";
    if (use_syslog) {
        syslog(levels[li].syslog_prio, "%s", message);
    } else {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *ts = g_date_time_format(now, "%Y-%m-%d %H:%M:%S");
        fprintf(stderr, "%s %s[%d]: %s: %s\n", ts, log_ident, (int)getpid(), levels[li].name,
                message);
        fflush(stderr);
    }
    return G_LOG_WRITER_HANDLED;
}

void log_setup(const char *ident, gboolean to_syslog)
{
    static gboolean installed;

    log_ident = ident;
    use_syslog = to_syslog;
    if (to_syslog)
        openlog(ident, LOG_PID, LOG_DAEMON);
    if (!installed) {
        g_log_set_writer_func(writer, NULL, NULL);
        installed = TRUE;
    }
}
