/* rdesktop_compat: rdesktop's MCS Erect Domain Request re-encoded as PER on
 * its way from OpenSSL to FreeRDP (see rdesktop_compat.c), so that rdesktop
 * can connect. The executable that links it must export SSL_read
 * (-Wl,--export-dynamic-symbol=SSL_read) for it to take effect. */
#ifndef AULA_RDESKTOP_COMPAT_H
#define AULA_RDESKTOP_COMPAT_H

#include <glib.h>

/* TRUE once this process re-encoded a request: the client is rdesktop. */
gboolean rdesktop_compat_seen(void);

#endif
