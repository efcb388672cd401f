/* admin_server: serves admin_api over HTTP on a UNIX socket (libsoup). */
#ifndef AULA_ADMIN_SERVER_H
#define AULA_ADMIN_SERVER_H

#include <glib.h>

struct admin_api;
struct conf;
struct admin_server;

/* Listen on cfg->admin_socket. A stale socket file is replaced; a socket some
 * other process still serves is refused. api and cfg are borrowed (cfg is read
 * on every request, so a reloaded admin_group applies at once). */
int admin_server_start(struct admin_api *api, const struct conf *cfg,
                       struct admin_server **serverp, GError **error);
/* Stop listening and remove the socket file. */
void admin_server_free(struct admin_server *server);

#endif
