/* thinclient/sdl_view: the window aula-client shows a remote desktop in. */
#include "config.h"

#include "sdl_view.h"

#include <errno.h>

struct sdl_view {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture;
    int width, height;
    gboolean fullscreen;
    gboolean dirty;
};

/* A texture of the framebuffer's size, and the renderer scaled to it. */
static int make_texture(struct sdl_view *view, int w, int h, char **cause)
{
    SDL_Texture *t = SDL_CreateTexture(view->renderer, SDL_PIXELFORMAT_BGR888,
                                       SDL_TEXTUREACCESS_STREAMING, w, h);
    if (!t) {
        *cause = g_strdup_printf("cannot make a %dx%d texture: %s", w, h, SDL_GetError());
        return -ENOMEM;
    }
    if (view->texture)
        SDL_DestroyTexture(view->texture);
    view->texture = t;
    view->width = w;
    view->height = h;
    SDL_RenderSetLogicalSize(view->renderer, w, h);
    SDL_SetRenderDrawColor(view->renderer, 0, 0, 0, 255);
    SDL_RenderClear(view->renderer);
    view->dirty = TRUE;
    return 0;
}

int sdl_view_new(const char *title, int w, int h, gboolean fullscreen, struct sdl_view **viewp,
                 char **cause)
{
    struct sdl_view *view = NULL;
    int r = -EIO;

    if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0) {
        *cause = g_strdup_printf("cannot open the display: %s", SDL_GetError());
        return -EIO;
    }
    view = g_new0(struct sdl_view, 1);
    view->fullscreen = fullscreen;
    view->window = SDL_CreateWindow(title, SDL_WINDOWPOS_CENTERED, SDL_WINDOWPOS_CENTERED, w, h,
                                    fullscreen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
    if (!view->window) {
        *cause = g_strdup_printf("cannot open a window: %s", SDL_GetError());
        goto out;
    }
    view->renderer = SDL_CreateRenderer(view->window, -1, 0);
    if (!view->renderer) {
        *cause = g_strdup_printf("cannot draw in the window: %s", SDL_GetError());
        goto out;
    }
    r = make_texture(view, w, h, cause);
    if (r < 0)
        goto out;
    *viewp = view;
    view = NULL;
    r = 0;
out:
    sdl_view_free(view);
    return r;
}

void sdl_view_free(struct sdl_view *view)
{
    if (!view)
        return;
    if (view->texture)
        SDL_DestroyTexture(view->texture);
    if (view->renderer)
        SDL_DestroyRenderer(view->renderer);
    if (view->window)
        SDL_DestroyWindow(view->window);
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    g_free(view);
}

int sdl_view_resize(struct sdl_view *view, int w, int h, char **cause)
{
    if (w == view->width && h == view->height)
        return 0;
    if (!view->fullscreen)
        SDL_SetWindowSize(view->window, w, h);
    return make_texture(view, w, h, cause);
}

void sdl_view_update(struct sdl_view *view, const uint8_t *fb, int stride, int x, int y, int w,
                     int h)
{
    SDL_Rect rect = { x, y, w, h };

    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > view->width || y + h > view->height)
        return;
    SDL_UpdateTexture(view->texture, &rect, fb + (size_t)y * stride + (size_t)x * 4, stride);
    view->dirty = TRUE;
}

void sdl_view_present(struct sdl_view *view)
{
    if (!view->dirty)
        return;
    SDL_RenderClear(view->renderer);
    SDL_RenderCopy(view->renderer, view->texture, NULL, NULL);
    SDL_RenderPresent(view->renderer);
    view->dirty = FALSE;
}

uint32_t sdl_view_keysym(SDL_Keycode key)
{
    /* SDL's keycodes for the printable keys are their unshifted ASCII
     * characters, which are also their X keysyms. The server applies Shift
     * itself, as it sees Shift_L go down. */
    if (key >= 0x20 && key <= 0x7e)
        return (uint32_t)key;
    if (key >= SDLK_F1 && key <= SDLK_F12)
        return 0xffbe + (uint32_t)(key - SDLK_F1);
    switch (key) {
    case SDLK_RETURN: return 0xff0d;
    case SDLK_KP_ENTER: return 0xff8d;
    case SDLK_BACKSPACE: return 0xff08;
    case SDLK_TAB: return 0xff09;
    case SDLK_ESCAPE: return 0xff1b;
    case SDLK_DELETE: return 0xffff;
    case SDLK_INSERT: return 0xff63;
    case SDLK_HOME: return 0xff50;
    case SDLK_END: return 0xff57;
    case SDLK_PAGEUP: return 0xff55;
    case SDLK_PAGEDOWN: return 0xff56;
    case SDLK_LEFT: return 0xff51;
    case SDLK_UP: return 0xff52;
    case SDLK_RIGHT: return 0xff53;
    case SDLK_DOWN: return 0xff54;
    case SDLK_LSHIFT: return 0xffe1;
    case SDLK_RSHIFT: return 0xffe2;
    case SDLK_LCTRL: return 0xffe3;
    case SDLK_RCTRL: return 0xffe4;
    case SDLK_CAPSLOCK: return 0xffe5;
    case SDLK_LALT: return 0xffe9;
    case SDLK_RALT: return 0xffea;
    case SDLK_LGUI: return 0xffeb;
    case SDLK_RGUI: return 0xffec;
    default: return 0;
    }
}

uint8_t sdl_view_buttons(uint32_t sdl_state)
{
    uint8_t mask = 0;

    if (sdl_state & SDL_BUTTON(SDL_BUTTON_LEFT))
        mask |= 1;
    if (sdl_state & SDL_BUTTON(SDL_BUTTON_MIDDLE))
        mask |= 2;
    if (sdl_state & SDL_BUTTON(SDL_BUTTON_RIGHT))
        mask |= 4;
    return mask;
}
