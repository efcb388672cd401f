/* vmm/conn: a libvirt connection integrated with the GLib main loop. */
#include "config.h"

#include "vmm/conn.h"

#include <libvirt-glib/libvirt-glib.h>
#include <libvirt/virterror.h>

#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 30

struct vmm_conn {
    char *uri;
    virConnectPtr conn;
    int lifecycle_id;
    struct vmm_conn_callbacks cb;
    void *data;
    guint retry_source;
    guint backoff_s;
    char *error;
    gboolean closing; /* vmm_conn_free is tearing down: no callbacks */
};

static void silent_error(void *data, virErrorPtr err)
{
    /* Errors are read with virGetLastErrorMessage() where they happen. */
}

void vmm_event_init(void)
{
    static gsize once;

    if (g_once_init_enter(&once)) {
        virSetErrorFunc(NULL, silent_error);
        gvir_event_register();
        g_once_init_leave(&once, 1);
    }
}

const char *vmm_last_error(void)
{
    const char *msg = virGetLastErrorMessage();
    return msg ? msg : "unknown libvirt error";
}

static void schedule_reconnect(struct vmm_conn *c);

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    struct vmm_conn *c = opaque;

    if (c->cb.domain_event && !c->closing)
        c->cb.domain_event(virDomainGetName(dom), event, detail, c->data);
    return 0;
}

static const char *close_reason(int reason)
{
    switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR: return "I/O error";
    case VIR_CONNECT_CLOSE_REASON_EOF: return "libvirtd closed the connection";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "keepalive timeout";
    default: return "closed";
    }
}

static void on_close(virConnectPtr conn, int reason, void *opaque);

/* A lost connection, to let go of outside libvirt's callback. */
struct dead_conn {
    virConnectPtr conn;
    int lifecycle_id;
};

static gboolean close_later(gpointer data)
{
    struct dead_conn *d = data;

    virConnectDomainEventDeregisterAny(d->conn, d->lifecycle_id);
    virConnectUnregisterCloseCallback(d->conn, on_close);
    virConnectClose(d->conn);
    g_free(d);
    return G_SOURCE_REMOVE;
}

/* libvirt closed the connection (libvirtd restarted or died). */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    struct vmm_conn *c = opaque;

    if (c->closing || c->conn != conn)
        return;
    g_warning("libvirt %s: connection lost (%s); reconnecting", c->uri, close_reason(reason));
    /* The dead connection is released from an idle callback: libvirt holds
     * the close callback's lock while it runs this one, and unregistering
     * from here would wait for that lock forever. */
    {
        struct dead_conn *d = g_new(struct dead_conn, 1);
        d->conn = c->conn;
        d->lifecycle_id = c->lifecycle_id;
        g_idle_add(close_later, d);
    }
    c->conn = NULL;
    g_free(c->error);
    c->error = g_strdup(close_reason(reason));
    if (c->cb.disconnected)
        c->cb.disconnected(c->error, c->data);
    c->backoff_s = BACKOFF_MIN_S;
    schedule_reconnect(c);
}

/* Open the connection and subscribe to events. TRUE when up. */
static gboolean try_connect(struct vmm_conn *c)
{
    virConnectPtr conn = virConnectOpen(c->uri);

    if (conn == NULL) {
        g_free(c->error);
        c->error = g_strdup_printf("cannot connect to libvirt at %s: %s", c->uri, vmm_last_error());
        return FALSE;
    }
    /* Keepalive lets a hung libvirtd be noticed, not only a dead one. */
    virConnectSetKeepAlive(conn, 5, 3);
    c->lifecycle_id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                       VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), c, NULL);
    if (c->lifecycle_id < 0 || virConnectRegisterCloseCallback(conn, on_close, c, NULL) < 0) {
        g_free(c->error);
        c->error = g_strdup_printf("cannot subscribe to libvirt events at %s: %s", c->uri,
                                   vmm_last_error());
        if (c->lifecycle_id >= 0)
            virConnectDomainEventDeregisterAny(conn, c->lifecycle_id);
        virConnectClose(conn);
        return FALSE;
    }
    c->conn = conn;
    g_clear_pointer(&c->error, g_free);
    c->backoff_s = BACKOFF_MIN_S;
    g_message("libvirt %s: connected", c->uri);
    if (c->cb.connected)
        c->cb.connected(c->data);
    return TRUE;
}

static gboolean on_retry(gpointer data)
{
    struct vmm_conn *c = data;

    c->retry_source = 0;
    if (!try_connect(c)) {
        g_warning("%s; retrying in %u s", c->error, c->backoff_s);
        schedule_reconnect(c);
    }
    return G_SOURCE_REMOVE;
}

static void schedule_reconnect(struct vmm_conn *c)
{
    if (c->retry_source)
        return;
    c->retry_source = g_timeout_add_seconds(c->backoff_s, on_retry, c);
    c->backoff_s = MIN(c->backoff_s * 2, BACKOFF_MAX_S);
}

struct vmm_conn *vmm_conn_new(const char *uri, const struct vmm_conn_callbacks *cb, void *data)
{
    struct vmm_conn *c = g_new0(struct vmm_conn, 1);

    vmm_event_init();
    c->uri = g_strdup(uri);
    if (cb)
        c->cb = *cb;
    c->data = data;
    c->lifecycle_id = -1;
    c->backoff_s = BACKOFF_MIN_S;
    /* The first attempt runs from the main loop too, so that callbacks never
     * run before the caller has its handle. */
    c->retry_source = g_idle_add(on_retry, c);
    return c;
}

void vmm_conn_free(struct vmm_conn *c)
{
    if (c == NULL)
        return;
    c->closing = TRUE;
    if (c->retry_source)
        g_source_remove(c->retry_source);
    if (c->conn) {
        virConnectDomainEventDeregisterAny(c->conn, c->lifecycle_id);
        virConnectUnregisterCloseCallback(c->conn, on_close);
        virConnectClose(c->conn);
    }
    g_free(c->error);
    g_free(c->uri);
    g_free(c);
}

virConnectPtr vmm_conn_get(struct vmm_conn *c)
{
    return c->conn;
}

const char *vmm_conn_uri(struct vmm_conn *c)
{
    return c->uri;
}

const char *vmm_conn_error(struct vmm_conn *c)
{
    return c->error;
}
