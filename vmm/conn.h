/* vmm/conn: one libvirt connection per host, driven by aulad's GLib main loop.
 *
 * libvirt's event loop is libvirt-glib's GLib implementation, so domain
 * lifecycle events and the connection's close arrive as main-loop callbacks.
 * When libvirtd goes away the connection is reopened with backoff (1 s, 2 s,
 * ... 30 s) and the owner is told, so it can re-read what it missed. */
#ifndef AULA_VMM_CONN_H
#define AULA_VMM_CONN_H

#include <glib.h>
#include <libvirt/libvirt.h>

struct vmm_conn;

struct vmm_conn_callbacks {
    /* A domain changed state: event and detail are virDomainEventType and its detail. */
    void (*domain_event)(const char *name, int event, int detail, void *data);
    /* The connection is up (first time or after a reconnect). */
    void (*connected)(void *data);
    /* The connection was lost; a reconnect is scheduled. */
    void (*disconnected)(const char *reason, void *data);
};

/* Install libvirt's GLib event loop; call once before any libvirt connection. */
void vmm_event_init(void);

/* Connect to uri, from the main loop: callbacks->connected runs once the
 * connection is up; failures are retried with backoff. cb is copied; data is
 * borrowed. Caller frees with vmm_conn_free. */
struct vmm_conn *vmm_conn_new(const char *uri, const struct vmm_conn_callbacks *cb, void *data);
void vmm_conn_free(struct vmm_conn *conn);

/* The live connection (borrowed; it stays valid until the next main-loop
 * iteration at least), or NULL while disconnected. virConnect objects are
 * thread-safe: workers may use it while the main loop runs; take a reference
 * with virConnectRef for longer. */
virConnectPtr vmm_conn_get(struct vmm_conn *conn);
const char *vmm_conn_uri(struct vmm_conn *conn);
/* Why the last connection attempt failed, or NULL. Borrowed. */
const char *vmm_conn_error(struct vmm_conn *conn);

/* The last libvirt error message in this thread, never NULL. */
const char *vmm_last_error(void);

#endif
