/* vncmeter: a VNC viewer that measures instead of showing.
 *
 * It connects to a VNC server (aulad's VNC port, or QEMU's own VNC socket),
 * answers the VNC password challenge, asks for updates the way a viewer does
 * (one non-incremental request, then an incremental request after each
 * update, which libvncclient sends by itself), optionally presses a key once
 * the first full picture is there (the testguest switches its workload on
 * F5..F9), waits a warm-up time, and then counts for a number of seconds:
 *
 *   bytes     received from the server, counted by a relay in this process
 *             (below), so TCP and UNIX sockets are counted the same way
 *   updates   FramebufferUpdate messages, with their rectangles and pixels
 *
 * It also times the connection: connect(), the server's password challenge
 * (for aulad, the moment the ticket is redeemed: the answer goes out at once),
 * ServerInit, and the end of the first update set that covers the whole
 * screen. Optionally it samples the CPU time and memory of other processes
 * (the aula-session that serves it, QEMU) over the same window.
 *
 * It prints one line of key=value pairs on stdout; messages go to stderr.
 *
 * Why a relay: libvncclient keeps no byte counter and reads the socket
 * itself. vncmeter connects the socket, hands libvncclient one end of a
 * socketpair, and two threads copy between the two, counting. The count is
 * what came off the network socket, byte for byte; the socketpair can hold
 * data that libvncclient has not parsed yet (a few hundred KiB at most), which
 * over a window of several seconds is noise and is the same on both paths.
 *
 * Usage: vncmeter [OPTIONS] HOST:PORT | /path/to/vnc.sock | fd:N */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RELAY_BUF (64 * 1024)
#define SAMPLE_INTERVAL_US (500 * 1000)
#define POLL_US (20 * 1000)

static char *opt_encodings = "tight";
static int opt_quality = 5;
static int opt_compress = 3;
static gboolean opt_password_stdin;
static char *opt_key;
static double opt_warmup = 2.0;
static double opt_duration = 10.0;
static int opt_timeout = 120;
static char *opt_label;
static char **opt_watch;
static gboolean opt_verbose;

static const GOptionEntry entries[] = {
    { "encodings", 'e', 0, G_OPTION_ARG_STRING, &opt_encodings,
      "Encodings to offer, in order of preference, space-separated (default \"tight\"; raw is always allowed)",
      "LIST" },
    { "quality", 'q', 0, G_OPTION_ARG_INT, &opt_quality,
      "JPEG quality 0-9 offered with tight (default 5, libvncclient's); -1 offers no JPEG", "N" },
    { "compress", 'c', 0, G_OPTION_ARG_INT, &opt_compress, "Compression level 0-9 for tight and zlib (default 3)",
      "N" },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &opt_password_stdin,
      "Read the VNC password (an aula ticket) from the first line of stdin", NULL },
    { "key", 'k', 0, G_OPTION_ARG_STRING, &opt_key,
      "Press and release this key once the first full picture is there: F1..F12 or a keysym in hex (0xffc4)",
      "KEY" },
    { "warmup", 'w', 0, G_OPTION_ARG_DOUBLE, &opt_warmup, "Seconds between the key and the count (default 2)",
      "S" },
    { "duration", 'd', 0, G_OPTION_ARG_DOUBLE, &opt_duration,
      "Seconds to count for (default 10; 0 stops after the first full picture)", "S" },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout,
      "Give up when the first full picture has not come within this many seconds (default 120)", "S" },
    { "label", 'l', 0, G_OPTION_ARG_STRING, &opt_label, "A word to put on the output line", "WORD" },
    { "watch", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_watch,
      "Sample a process's CPU and memory over the window: LABEL=PID, or LABEL=PPID/COMM for the newest "
      "child of PPID named COMM (repeatable)", "SPEC" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Show libvncclient's messages", NULL },
    { NULL },
};

/* Copies one direction of the connection and counts what it copied. */
struct pipe_dir {
    int from, to;
    atomic_uint_fast64_t bytes;
    GThread *thread;
};

/* A process watched over the counting window. */
struct watch {
    char *label;
    int pid;            /* 0 until resolved */
    int ppid;           /* for LABEL=PPID/COMM */
    char *comm;
    unsigned long long cpu0, cpu1; /* utime + stime, clock ticks */
    long rss_max_kb, hwm_kb;
    gboolean ok;
};

struct meter {
    rfbClient *client;
    char *password;
    int64_t t0, t_connected, t_challenge, t_init, t_full; /* monotonic µs */
    uint8_t *mask;              /* pixels seen, until the first full picture */
    uint64_t covered;
    gboolean counting;
    gboolean ext_keys;          /* QEMU acknowledged extended key events */
    uint64_t updates, rects, pixels;
};

static int tag;

static int64_t now_us(void)
{
    return g_get_monotonic_time();
}

static void quiet_log(const char *format, ...)
{
}

static void on_alarm(int sig)
{
    static const char msg[] = "vncmeter: timed out\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
        _exit(1);
    _exit(1);
}

/* Relay thread: copy until either side closes. */
static gpointer pipe_run(gpointer data)
{
    struct pipe_dir *p = data;
    g_autofree char *buf = g_malloc(RELAY_BUF);

    for (;;) {
        ssize_t n = read(p->from, buf, RELAY_BUF), off = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        atomic_fetch_add(&p->bytes, (uint_fast64_t)n);
        while (off < n) {
            ssize_t w = write(p->to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    /* Pass the end on, so the other side's reader wakes up. */
    shutdown(p->to, SHUT_WR);
    return NULL;
}

/* Connect to HOST:PORT, or to a UNIX socket when the target has a '/', or
 * take fd:N, a socket connected already (as aulad hands one to aula-session).
 * Returns the socket or -1 (message printed). */
static int connect_target(const char *target)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
    g_autofree char *host = NULL;
    const char *colon;
    int fd = -1, one = 1, e;

    if (g_str_has_prefix(target, "fd:")) {
        char *end;
        long v = strtol(target + 3, &end, 10);

        if (*end != '\0' || v < 0 || v > G_MAXINT || fcntl((int)v, F_GETFD) < 0) {
            fprintf(stderr, "vncmeter: %s is not an open descriptor\n", target);
            return -1;
        }
        return (int)v;
    }
    if (strchr(target, '/')) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        if (strlen(target) >= sizeof(sun.sun_path)) {
            fprintf(stderr, "vncmeter: socket path too long: %s\n", target);
            return -1;
        }
        strcpy(sun.sun_path, target);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            fprintf(stderr, "vncmeter: cannot connect to %s: %s\n", target, g_strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    colon = strrchr(target, ':');
    if (colon == NULL || colon[1] == '\0') {
        fprintf(stderr, "vncmeter: the target must be HOST:PORT or a socket path, not '%s'\n", target);
        return -1;
    }
    host = g_strndup(target, (gsize)(colon - target));
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    e = getaddrinfo(host, colon + 1, &hints, &res);
    if (e != 0) {
        fprintf(stderr, "vncmeter: %s: %s\n", target, gai_strerror(e));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        e = errno;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "vncmeter: cannot connect to %s: %s\n", target, g_strerror(e));
        return -1;
    }
    /* As libvncclient does for its own TCP connections. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* F1..F12 or a hex keysym; 0 when neither. */
static uint32_t parse_key(const char *s)
{
    char *end;
    unsigned long v;

    if ((s[0] == 'F' || s[0] == 'f') && s[1] != '\0') {
        v = strtoul(s + 1, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 12)
            return 0xffbe + (uint32_t)(v - 1); /* XK_F1 */
        return 0;
    }
    v = strtoul(s, &end, 16);
    return *end == '\0' && v > 0 && v <= 0xffffffff ? (uint32_t)v : 0;
}

static char *get_password(rfbClient *client)
{
    struct meter *m = rfbClientGetClientData(client, &tag);

    m->t_challenge = now_us();
    /* libvncclient frees the answer. */
    return strdup(m->password ? m->password : "");
}

static rfbBool on_malloc_fb(rfbClient *client)
{
    struct meter *m = rfbClientGetClientData(client, &tag);
    size_t n = (size_t)client->width * (size_t)client->height;

    if (m->t_init == 0)
        m->t_init = now_us();
    free(client->frameBuffer);
    client->frameBuffer = calloc(n, (size_t)client->format.bitsPerPixel / 8);
    /* A new size starts the wait for a full picture again. */
    if (m->t_full == 0) {
        g_free(m->mask);
        m->mask = g_malloc0(n);
        m->covered = 0;
    }
    return client->frameBuffer != NULL;
}

static void on_update(rfbClient *client, int x, int y, int w, int h)
{
    struct meter *m = rfbClientGetClientData(client, &tag);

    /* QEMU acknowledges the extended key event pseudo-encoding (which
     * libvncclient always offers) with a rectangle the size of the screen
     * and no pixels, and libvncclient reports it like a real one: it must
     * not count as the first full picture. */
    if (!m->ext_keys && SupportsClient2Server(client, rfbQemuEvent)) {
        m->ext_keys = TRUE;
        return;
    }
    if (w <= 0 || h <= 0)
        return;
    if (m->counting) {
        m->rects++;
        m->pixels += (uint64_t)w * (uint64_t)h;
    }
    if (m->t_full == 0 && m->mask && x >= 0 && y >= 0 && x + w <= client->width && y + h <= client->height) {
        for (int row = y; row < y + h; row++) {
            uint8_t *p = m->mask + (size_t)row * (size_t)client->width + (size_t)x;
            for (int i = 0; i < w; i++) {
                m->covered += !p[i];
                p[i] = 1;
            }
        }
    }
}

static void on_finished(rfbClient *client)
{
    struct meter *m = rfbClientGetClientData(client, &tag);

    if (m->counting)
        m->updates++;
    if (m->t_full == 0 && m->covered >= (uint64_t)client->width * (uint64_t)client->height) {
        m->t_full = now_us();
        g_clear_pointer(&m->mask, g_free);
    }
}

/* Handle what the server sends until `until` (monotonic µs) or, with
 * want_full, until the first full picture. FALSE when the connection ends. */
static gboolean pump(struct meter *m, int64_t until, gboolean want_full, struct watch **watches, int nw)
{
    int64_t next_sample = now_us() + SAMPLE_INTERVAL_US;

    while (now_us() < until && !(want_full && m->t_full)) {
        int n = WaitForMessage(m->client, POLL_US);

        if (n < 0)
            return FALSE;
        if (n > 0) {
            do {
                if (!HandleRFBServerMessage(m->client))
                    return FALSE;
            } while (m->client->buffered > 0);
        }
        if (watches && now_us() >= next_sample) {
            for (int i = 0; i < nw; i++) {
                long rss = 0, hwm = 0;
                g_autofree char *path = g_strdup_printf("/proc/%d/status", watches[i]->pid);
                g_autofree char *text = NULL;

                if (watches[i]->pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
                    continue;
                for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                    if (g_str_has_prefix(l, "VmRSS:"))
                        rss = strtol(l + 6, NULL, 10);
                    else if (g_str_has_prefix(l, "VmHWM:"))
                        hwm = strtol(l + 6, NULL, 10);
                }
                watches[i]->rss_max_kb = MAX(watches[i]->rss_max_kb, rss);
                watches[i]->hwm_kb = MAX(watches[i]->hwm_kb, hwm);
            }
            next_sample += SAMPLE_INTERVAL_US;
        }
    }
    return TRUE;
}

/* Fields 14 and 15 (utime, stime) and 22 (starttime) of /proc/PID/stat. */
static gboolean read_stat(int pid, int *ppidp, unsigned long long *cpup, unsigned long long *startp)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid), *text = NULL;
    unsigned long long utime, stime, start;
    char *p;
    int ppid;

    if (!g_file_get_contents(path, &text, NULL, NULL) || (p = strrchr(text, ')')) == NULL)
        return FALSE;
    /* After "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itrealvalue starttime. */
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
               &ppid, &utime, &stime, &start) != 4)
        return FALSE;
    if (ppidp)
        *ppidp = ppid;
    if (cpup)
        *cpup = utime + stime;
    if (startp)
        *startp = start;
    return TRUE;
}

/* The newest process whose parent is ppid and whose name is comm; 0 if none. */
static int find_child(int ppid, const char *comm)
{
    g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
    unsigned long long best_start = 0;
    const char *name;
    int best = 0;

    while (dir && (name = g_dir_read_name(dir)) != NULL) {
        g_autofree char *path = NULL, *c = NULL;
        unsigned long long start;
        int pid = atoi(name), parent;

        if (pid <= 0 || !read_stat(pid, &parent, NULL, &start) || parent != ppid)
            continue;
        path = g_strdup_printf("/proc/%d/comm", pid);
        if (!g_file_get_contents(path, &c, NULL, NULL) || strcmp(g_strchomp(c), comm) != 0)
            continue;
        if (best == 0 || start > best_start) {
            best = pid;
            best_start = start;
        }
    }
    return best;
}

static struct watch *watch_parse(const char *spec)
{
    const char *eq = strchr(spec, '='), *slash;
    struct watch *w;
    char *end;
    long v;

    if (eq == NULL || eq == spec)
        return NULL;
    w = g_new0(struct watch, 1);
    w->label = g_strndup(spec, (gsize)(eq - spec));
    slash = strchr(eq + 1, '/');
    v = strtol(eq + 1, &end, 10);
    if (slash && end == slash && v > 0 && slash[1] != '\0') {
        w->ppid = (int)v;
        w->comm = g_strdup(slash + 1);
    } else if (*end == '\0' && v > 0) {
        w->pid = (int)v;
    } else {
        g_free(w->label);
        g_free(w);
        return NULL;
    }
    return w;
}

static void watch_free(struct watch *w)
{
    if (w == NULL)
        return;
    g_free(w->label);
    g_free(w->comm);
    g_free(w);
}

static void watch_start(struct watch *w)
{
    if (w->comm)
        w->pid = find_child(w->ppid, w->comm);
    w->ok = w->pid > 0 && read_stat(w->pid, NULL, &w->cpu0, NULL);
}

static void watch_stop(struct watch *w)
{
    w->ok = w->ok && read_stat(w->pid, NULL, &w->cpu1, NULL);
}

static void print_ms(GString *out, const char *key, int64_t t, int64_t since)
{
    if (t > 0 && since > 0)
        g_string_append_printf(out, " %s=%.1f", key, (double)(t - since) / 1000.0);
    else
        g_string_append_printf(out, " %s=-", key);
}

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("HOST:PORT|SOCKET|fd:N - measure a VNC server");
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) out = g_string_new("vncmeter");
    g_autoptr(GPtrArray) watches = g_ptr_array_new_with_free_func((GDestroyNotify)watch_free);
    g_autofree char *encodings = NULL;
    struct pipe_dir down = { .from = -1 }, up = { .from = -1 };
    struct meter m = { 0 };
    struct rusage ru0, ru1;
    uint64_t bytes0 = 0, bytes1 = 0, up0 = 0, up1 = 0;
    int64_t w0 = 0, w1 = 0;
    uint32_t key = 0;
    int pair[2] = { -1, -1 }, server = -1, r = 1;
    double secs;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Prints one line of key=value pairs: the times from connect() to the password challenge, to\n"
        "ServerInit and to the first full picture (ms), then bytes received, updates, rectangles and\n"
        "pixels over the window, and the watched processes' CPU (% of one core) and memory (kB).");
    if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
        fprintf(stderr, "vncmeter: %s\n", err ? err->message : "give one target: HOST:PORT, a socket path or fd:N");
        return 2;
    }
    if (opt_key && (key = parse_key(opt_key)) == 0) {
        fprintf(stderr, "vncmeter: --key: '%s' is not F1..F12 or a hex keysym\n", opt_key);
        return 2;
    }
    if (opt_duration < 0 || opt_warmup < 0 || opt_timeout <= 0 || opt_quality > 9 || opt_compress < 0 ||
        opt_compress > 9) {
        fprintf(stderr, "vncmeter: --duration and --warmup must be >= 0, --timeout > 0, --quality -1..9, "
                        "--compress 0..9\n");
        return 2;
    }
    for (char **s = opt_watch; s && *s; s++) {
        struct watch *w = watch_parse(*s);
        if (w == NULL) {
            fprintf(stderr, "vncmeter: --watch '%s': use LABEL=PID or LABEL=PPID/COMM\n", *s);
            return 2;
        }
        g_ptr_array_add(watches, w);
    }
    if (opt_password_stdin) {
        char line[256];
        if (fgets(line, sizeof(line), stdin) == NULL) {
            fprintf(stderr, "vncmeter: --password-stdin: nothing on stdin\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        m.password = g_strdup(line);
        explicit_bzero(line, sizeof(line));
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    rfbClientLog = opt_verbose ? rfbClientLog : quiet_log;

    alarm((unsigned)opt_timeout);
    m.t0 = now_us();
    server = connect_target(argv[1]);
    if (server < 0)
        goto out;
    m.t_connected = now_us();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        fprintf(stderr, "vncmeter: socketpair: %s\n", g_strerror(errno));
        goto out;
    }
    down = (struct pipe_dir){ .from = server, .to = pair[1] };
    up = (struct pipe_dir){ .from = pair[1], .to = server };
    down.thread = g_thread_new("down", pipe_run, &down);
    up.thread = g_thread_new("up", pipe_run, &up);

    m.client = rfbGetClient(8, 3, 4);
    m.client->appData.encodingsString = opt_encodings;
    m.client->appData.compressLevel = opt_compress;
    m.client->appData.enableJPEG = opt_quality >= 0;
    m.client->appData.qualityLevel = opt_quality >= 0 ? opt_quality : 5;
    m.client->appData.useRemoteCursor = FALSE;
    m.client->appData.shareDesktop = TRUE;
    m.client->canHandleNewFBSize = TRUE;
    m.client->GetPassword = get_password;
    m.client->MallocFrameBuffer = on_malloc_fb;
    m.client->GotFrameBufferUpdate = on_update;
    m.client->FinishedFrameBufferUpdate = on_finished;
    m.client->listenSpecified = TRUE;   /* connected already: libvncclient must not connect */
    m.client->sock = pair[0];
    pair[0] = -1;
    m.client->programName = "vncmeter";
    rfbClientSetClientData(m.client, &tag, &m);
    if (!rfbInitClient(m.client, NULL, NULL)) {
        /* rfbInitClient freed the client and closed its socket. */
        m.client = NULL;
        fprintf(stderr, "vncmeter: the VNC handshake with %s failed (refused password or not VNC)\n", argv[1]);
        goto out;
    }
    if (!pump(&m, G_MAXINT64, TRUE, NULL, 0)) {
        fprintf(stderr, "vncmeter: the server closed the connection before the first full picture\n");
        goto out;
    }
    alarm(0);
    if (key) {
        SendKeyEvent(m.client, key, TRUE);
        SendKeyEvent(m.client, key, FALSE);
    }
    if (!pump(&m, now_us() + (int64_t)(opt_warmup * G_USEC_PER_SEC), FALSE, NULL, 0)) {
        fprintf(stderr, "vncmeter: the server closed the connection during the warm-up\n");
        goto out;
    }
    if (opt_duration > 0) {
        for (guint i = 0; i < watches->len; i++)
            watch_start(watches->pdata[i]);
        getrusage(RUSAGE_SELF, &ru0);
        bytes0 = atomic_load(&down.bytes);
        up0 = atomic_load(&up.bytes);
        m.counting = TRUE;
        w0 = now_us();
        if (!pump(&m, w0 + (int64_t)(opt_duration * G_USEC_PER_SEC), FALSE, (struct watch **)watches->pdata,
                  (int)watches->len)) {
            fprintf(stderr, "vncmeter: the server closed the connection during the count\n");
            goto out;
        }
        w1 = now_us();
        m.counting = FALSE;
        bytes1 = atomic_load(&down.bytes);
        up1 = atomic_load(&up.bytes);
        getrusage(RUSAGE_SELF, &ru1);
        for (guint i = 0; i < watches->len; i++)
            watch_stop(watches->pdata[i]);
    }

    encodings = g_strdelimit(g_strdup(opt_encodings), " ", ',');
    g_string_append_printf(out, " label=%s target=%s encodings=%s quality=%d compress=%d width=%d height=%d",
                           opt_label ? opt_label : "-", argv[1], encodings, opt_quality, opt_compress,
                           m.client->width, m.client->height);
    print_ms(out, "connect_ms", m.t_connected, m.t0);
    print_ms(out, "challenge_ms", m.t_challenge, m.t0);
    print_ms(out, "init_ms", m.t_init, m.t0);
    print_ms(out, "first_frame_ms", m.t_full, m.t0);
    print_ms(out, "challenge_to_frame_ms", m.t_full, m.t_challenge);
    if (opt_duration > 0) {
        double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                              ru0.ru_stime.tv_sec) +
                     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                              ru0.ru_stime.tv_usec) / 1e6;
        uint64_t bytes = bytes1 - bytes0;

        secs = (double)(w1 - w0) / 1e6;
        g_string_append_printf(out,
                               " seconds=%.2f bytes=%" G_GUINT64_FORMAT " bytes_up=%" G_GUINT64_FORMAT
                               " updates=%" G_GUINT64_FORMAT " rects=%" G_GUINT64_FORMAT
                               " pixels=%" G_GUINT64_FORMAT " bytes_per_s=%.0f updates_per_s=%.2f"
                               " bytes_per_update=%.0f viewer_cpu=%.1f",
                               secs, bytes, up1 - up0, m.updates, m.rects, m.pixels, (double)bytes / secs,
                               (double)m.updates / secs, m.updates ? (double)bytes / (double)m.updates : 0.0,
                               100.0 * cpu / secs);
        for (guint i = 0; i < watches->len; i++) {
            struct watch *w = watches->pdata[i];
            if (w->ok)
                g_string_append_printf(out, " %s_pid=%d %s_cpu=%.1f %s_rss_kb=%ld %s_hwm_kb=%ld", w->label,
                                       w->pid, w->label,
                                       100.0 * (double)(w->cpu1 - w->cpu0) / (double)sysconf(_SC_CLK_TCK) / secs,
                                       w->label, w->rss_max_kb, w->label, w->hwm_kb);
            else
                g_string_append_printf(out, " %s_pid=- %s_cpu=- %s_rss_kb=- %s_hwm_kb=-", w->label, w->label,
                                       w->label, w->label);
        }
    }
    printf("%s\n", out->str);
    fflush(stdout);
    r = 0;
out:
    alarm(0);
    if (m.client) {
        /* rfbClientCleanup leaves the framebuffer to whoever allocated it. */
        free(m.client->frameBuffer);
        rfbClientCleanup(m.client);
    }
    /* Wake both relay threads: the viewer's end is closed, the server's is shut. */
    if (server >= 0)
        shutdown(server, SHUT_RDWR);
    if (pair[1] >= 0)
        shutdown(pair[1], SHUT_RDWR);
    if (down.thread)
        g_thread_join(down.thread);
    if (up.thread)
        g_thread_join(up.thread);
    if (server >= 0)
        close(server);
    if (pair[0] >= 0)
        close(pair[0]);
    if (pair[1] >= 0)
        close(pair[1]);
    g_free(m.mask);
    if (m.password)
        explicit_bzero(m.password, strlen(m.password));
    g_free(m.password);
    return r;
}
