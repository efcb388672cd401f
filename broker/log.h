/* log: aulad's GLib log writer: level filtering from the config, to stderr or syslog. */
#ifndef AULA_LOG_H
#define AULA_LOG_H

#include <glib.h>

/* Install the writer. to_syslog: daemon mode (no terminal); else stderr. */
void log_setup(const char *ident, gboolean to_syslog);
/* Set the least important level written: error, warning, message, info, debug.
 * Returns -EINVAL (and changes nothing) for another name. */
int log_set_level(const char *name);

#endif
