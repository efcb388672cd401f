/* thinclient/vnc_view: a remote desktop over VNC, shown in an sdl_view. */
#include "config.h"

#include "vnc_view.h"

#include "sdl_view.h"

#include <errno.h>
#include <rfb/rfbclient.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct vnc_view {
    rfbClient *client;
    struct sdl_view *view;
    char *password;
    char *title;
    gboolean fullscreen;
    char *cause;           /* why the window could not be made, during the handshake */
    uint8_t buttons;       /* RFB button mask now held */
    int x, y;              /* where the pointer was last, in framebuffer pixels */
};

/* A key for rfbClientSetClientData: the address is what counts. */
static int vnc_view_tag;

static struct vnc_view *view_of(rfbClient *client)
{
    return rfbClientGetClientData(client, &vnc_view_tag);
}

/* libvncclient logs every step of the handshake on stdout; keep it quiet. */
static void log_quiet(const char *format, ...)
{
    (void)format;
}

static void log_error(const char *format, ...)
{
    va_list ap;

    fputs("aula-client: vnc: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
}

/* The VNC password: the ticket. libvncclient frees the copy. */
static char *get_password(rfbClient *client)
{
    return strdup(view_of(client)->password);
}

/* At the handshake and at every NewFBSize: the framebuffer is (re)made at
 * the server's size, and the window with it. */
static rfbBool malloc_framebuffer(rfbClient *client)
{
    struct vnc_view *vv = view_of(client);
    size_t size = (size_t)client->width * client->height * 4;
    uint8_t *fb;
    int r;

    if (client->width <= 0 || client->height <= 0 || client->width > 16384 ||
        client->height > 16384) {
        g_free(vv->cause);
        vv->cause = g_strdup_printf("the server's desktop is %dx%d", client->width,
                                    client->height);
        return FALSE;
    }
    fb = calloc(1, size);
    if (!fb)
        return FALSE;
    free(client->frameBuffer);
    client->frameBuffer = fb;
    g_free(vv->cause);
    vv->cause = NULL;
    if (!vv->view)
        r = sdl_view_new(vv->title, client->width, client->height, vv->fullscreen, &vv->view,
                         &vv->cause);
    else
        r = sdl_view_resize(vv->view, client->width, client->height, &vv->cause);
    return r == 0;
}

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
    struct vnc_view *vv = view_of(client);

    if (vv->view)
        sdl_view_update(vv->view, client->frameBuffer, client->width * 4, x, y, w, h);
}

int vnc_view_new(const char *host, int port, const char *password, const char *title,
                 gboolean fullscreen, struct vnc_view **vvp, char **cause)
{
    struct vnc_view *vv = g_new0(struct vnc_view, 1);
    rfbClient *client;
    int r = -ECONNREFUSED;

    rfbClientLog = log_quiet;
    rfbClientErr = log_error;
    vv->password = g_strdup(password);
    vv->title = g_strdup(title);
    vv->fullscreen = fullscreen;

    /* 8 bits a colour, 3 colours, 4 bytes a pixel: 32-bit, red lowest. */
    client = rfbGetClient(8, 3, 4);
    if (!client) {
        *cause = g_strdup("cannot make a VNC client");
        r = -ENOMEM;
        goto out;
    }
    rfbClientSetClientData(client, &vnc_view_tag, vv);
    client->GetPassword = get_password;
    client->MallocFrameBuffer = malloc_framebuffer;
    client->GotFrameBufferUpdate = got_update;
    client->canHandleNewFBSize = TRUE;
    free(client->serverHost); /* rfbGetClient's placeholder */
    client->serverHost = strdup(host);
    client->serverPort = port;
    /* rfbInitClient frees the client when it fails. */
    if (!rfbInitClient(client, NULL, NULL)) {
        *cause = vv->cause ? g_strdup(vv->cause)
                           : g_strdup_printf("the VNC connection to %s port %d failed "
                                             "(refused, or the ticket was not accepted)",
                                             host, port);
        goto out;
    }
    vv->client = client;
    *vvp = vv;
    vv = NULL;
    r = 0;
out:
    vnc_view_free(vv);
    return r;
}

void vnc_view_free(struct vnc_view *vv)
{
    if (!vv)
        return;
    if (vv->client) {
        free(vv->client->frameBuffer);
        vv->client->frameBuffer = NULL;
        rfbClientCleanup(vv->client);
    }
    sdl_view_free(vv->view);
    if (vv->password) {
        memset(vv->password, 0, strlen(vv->password));
        g_free(vv->password);
    }
    g_free(vv->title);
    g_free(vv->cause);
    g_free(vv);
}

/* One SDL event to the server. FALSE: the user closed the window. */
static gboolean handle_event(struct vnc_view *vv, const SDL_Event *e)
{
    rfbClient *client = vv->client;
    uint32_t sym;

    switch (e->type) {
    case SDL_QUIT:
        return FALSE;
    case SDL_WINDOWEVENT:
        if (e->window.event == SDL_WINDOWEVENT_EXPOSED ||
            e->window.event == SDL_WINDOWEVENT_SIZE_CHANGED)
            SendFramebufferUpdateRequest(client, 0, 0, client->width, client->height, FALSE);
        break;
    case SDL_KEYDOWN:
    case SDL_KEYUP:
        sym = sdl_view_keysym(e->key.keysym.sym);
        if (sym)
            SendKeyEvent(client, sym, e->type == SDL_KEYDOWN);
        break;
    case SDL_MOUSEMOTION:
        vv->buttons = sdl_view_buttons(e->motion.state);
        vv->x = e->motion.x;
        vv->y = e->motion.y;
        SendPointerEvent(client, vv->x, vv->y, vv->buttons);
        break;
    case SDL_MOUSEBUTTONDOWN:
    case SDL_MOUSEBUTTONUP:
        vv->buttons = sdl_view_buttons(SDL_GetMouseState(NULL, NULL));
        vv->x = e->button.x;
        vv->y = e->button.y;
        SendPointerEvent(client, vv->x, vv->y, vv->buttons);
        break;
    case SDL_MOUSEWHEEL: {
        /* RFB has the wheel as buttons 4 (up) and 5 (down): a press and a
         * release for each step, at the pointer's place. */
        int steps = e->wheel.y;
        uint8_t bit = steps > 0 ? 8 : 16;

        if (e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED)
            bit = steps > 0 ? 16 : 8;
        for (int i = 0; i < abs(steps) && i < 10; i++) {
            SendPointerEvent(client, vv->x, vv->y, vv->buttons | bit);
            SendPointerEvent(client, vv->x, vv->y, vv->buttons);
        }
        break;
    }
    default:
        break;
    }
    return TRUE;
}

enum vnc_view_end vnc_view_run(struct vnc_view *vv)
{
    SDL_Event e;

    for (;;) {
        int n = WaitForMessage(vv->client, 10000);

        if (n < 0)
            return VNC_VIEW_CLOSED_BY_SERVER;
        if (n > 0 && !HandleRFBServerMessage(vv->client))
            return VNC_VIEW_CLOSED_BY_SERVER;
        while (SDL_PollEvent(&e))
            if (!handle_event(vv, &e))
                return VNC_VIEW_CLOSED_BY_USER;
        if (vv->view)
            sdl_view_present(vv->view);
    }
}
