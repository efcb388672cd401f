/*
 * guest.c: /init (PID 1) of aula's "testguest" initramfs.
 *
 * The guest exists so that end-to-end tests can prove, against a real QEMU
 * VM and without any agent, the three things the broker is responsible for:
 *
 *   frames  a recognisable static picture plus an area that changes about
 *           ten times a second, drawn on the VM's own framebuffer (the
 *           picture QEMU's VNC display shows);
 *   input   every key and pointer event the guest receives is shown on
 *           screen and echoed to the serial console;
 *   reset   a marker written to the first sector of the disk (F12) must be
 *           gone after the VM is reset to its template.
 *
 * For benchmarks of the display path, F5 to F9 switch between screen
 * workloads with a known amount of change: idle (a still picture), typing
 * (one character every 50 ms), motion (the whole screen, up to 30 frames a
 * second), scroll (a text page moving up 16 px every 50 ms) and default
 * (the test picture above). See "Workloads" in README.md.
 *
 * Every line it reports starts with "TESTGUEST " on /dev/ttyS0 and is also
 * shown in the on-screen event log, so a test can read either. The line
 * formats are listed in README.md; keep the two in step.
 *
 * One file, libc only, linked statically: it runs before anything else
 * exists in the guest, and it must never exit (the kernel panics when PID 1
 * does), so every failure is logged and retried instead.
 *
 * Build: gcc -static -O2 -Wall -Wextra -o init guest.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fb.h>
#include <linux/input.h>
#include <linux/kd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define LOG_PREFIX     "TESTGUEST "
#define SERIAL_DEV     "/dev/ttyS0"
#define FB_DEV         "/dev/fb0"
#define DISK_DEV       "/dev/vda"
#define INPUT_DIR      "/dev/input"
#define MODULES_LIST   "/modules.order"
#define MARKER_MAGIC   "AULA-MARKER"
#define SECTOR_SIZE    512

#define MIN_W          1024     /* smallest mode we accept without asking for more */
#define MIN_H          768
#define TICK_S         0.1      /* the changing area is redrawn ten times a second */
#define RESCAN_S       1.0      /* late devices (USB enumerates slowly under TCG) */
#define MIN_RENDER_S   0.04     /* input-driven redraws at most 25 times a second */
#define TYPING_S       0.05     /* workload "typing": one character every 50 ms */
#define SCROLL_S       0.05     /* workload "scroll": one step every 50 ms ... */
#define SCROLL_PX      16       /* ... of this many pixel rows (one text line) */
#define MOTION_S       (1.0 / 30)       /* workload "motion": at most 30 frames a second */
#define FPS_S          1.0      /* "fps N" on the serial console in motion and scroll */

#define MAX_INPUTS     16
#define LOG_RING       64       /* lines kept for the on-screen event log */
#define LOG_COLS       120

/* Colours are 0xRRGGBB throughout; fb_pack() converts to the device format. */
#define C_BACKGROUND   0x181818
#define C_TITLE_BG     0x12306a
#define C_TEXT         0xe8e8e8
#define C_DIM          0x909090
#define C_TRACK        0x303030
#define C_BLOCK        0xffd000
#define C_LOG_BG       0x000000
#define C_LOG_BORDER   0x606060
#define C_KEY          0xffe070
#define C_POINTER_TXT  0x80e0ff
#define C_MARKER       0xff90ff
#define C_POINTER      0xff8000  /* the pointer marker; no colour bar uses it */
#define C_OUTLINE      0x000000
#define C_CURSOR       0xb0b0b0  /* typing workload: the text cursor */
#define C_ZEBRA_A      0x10161e  /* scroll workload: line backgrounds, alternating */
#define C_ZEBRA_B      0x24303c

/* ------------------------------------------------------------------------ */
/* Font */

/*
 * 5x7 bitmap font for ASCII 32..126, drawn by hand for this file: seven rows
 * of five columns, '#' for ink. A glyph sits in a 6x8 cell (one blank column
 * on the right, one blank row below), so text needs no spacing logic. There
 * are no descenders: g, j, p, q and y are raised, as on character LCDs.
 */
#define FONT_W 5
#define FONT_H 7
#define CELL_W 6
#define CELL_H 8

static const char *const font_art[95][FONT_H] = {
	[' ' - 32] = { ".....", ".....", ".....", ".....", ".....", ".....", "....." },
	['!' - 32] = { "..#..", "..#..", "..#..", "..#..", "..#..", ".....", "..#.." },
	['"' - 32] = { ".#.#.", ".#.#.", ".#.#.", ".....", ".....", ".....", "....." },
	['#' - 32] = { ".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#." },
	['$' - 32] = { "..#..", ".####", "#.#..", ".###.", "..#.#", "####.", "..#.." },
	['%' - 32] = { "##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##" },
	['&' - 32] = { ".##..", "#..#.", "#.#..", ".#...", "#.#.#", "#..#.", ".##.#" },
	['\'' - 32] = { "..#..", "..#..", ".#...", ".....", ".....", ".....", "....." },
	['(' - 32] = { "...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#." },
	[')' - 32] = { ".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..." },
	['*' - 32] = { ".....", "..#..", "#.#.#", ".###.", "#.#.#", "..#..", "....." },
	['+' - 32] = { ".....", "..#..", "..#..", "#####", "..#..", "..#..", "....." },
	[',' - 32] = { ".....", ".....", ".....", ".....", ".##..", "..#..", ".#..." },
	['-' - 32] = { ".....", ".....", ".....", "#####", ".....", ".....", "....." },
	['.' - 32] = { ".....", ".....", ".....", ".....", ".....", ".##..", ".##.." },
	['/' - 32] = { ".....", "....#", "...#.", "..#..", ".#...", "#....", "....." },
	['0' - 32] = { ".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###." },
	['1' - 32] = { "..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###." },
	['2' - 32] = { ".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####" },
	['3' - 32] = { "#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###." },
	['4' - 32] = { "...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#." },
	['5' - 32] = { "#####", "#....", "####.", "....#", "....#", "#...#", ".###." },
	['6' - 32] = { "..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###." },
	['7' - 32] = { "#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..." },
	['8' - 32] = { ".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###." },
	['9' - 32] = { ".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.." },
	[':' - 32] = { ".....", ".##..", ".##..", ".....", ".##..", ".##..", "....." },
	[';' - 32] = { ".....", ".##..", ".##..", ".....", ".##..", "..#..", ".#..." },
	['<' - 32] = { "...#.", "..#..", ".#...", "#....", ".#...", "..#..", "...#." },
	['=' - 32] = { ".....", ".....", "#####", ".....", "#####", ".....", "....." },
	['>' - 32] = { ".#...", "..#..", "...#.", "....#", "...#.", "..#..", ".#..." },
	['?' - 32] = { ".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.." },
	['@' - 32] = { ".###.", "#...#", "....#", ".##.#", "#.#.#", "#.#.#", ".###." },
	['A' - 32] = { ".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#" },
	['B' - 32] = { "####.", "#...#", "#...#", "####.", "#...#", "#...#", "####." },
	['C' - 32] = { ".###.", "#...#", "#....", "#....", "#....", "#...#", ".###." },
	['D' - 32] = { "###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.." },
	['E' - 32] = { "#####", "#....", "#....", "####.", "#....", "#....", "#####" },
	['F' - 32] = { "#####", "#....", "#....", "####.", "#....", "#....", "#...." },
	['G' - 32] = { ".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####" },
	['H' - 32] = { "#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#" },
	['I' - 32] = { ".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###." },
	['J' - 32] = { "..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.." },
	['K' - 32] = { "#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#" },
	['L' - 32] = { "#....", "#....", "#....", "#....", "#....", "#....", "#####" },
	['M' - 32] = { "#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#" },
	['N' - 32] = { "#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#" },
	['O' - 32] = { ".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###." },
	['P' - 32] = { "####.", "#...#", "#...#", "####.", "#....", "#....", "#...." },
	['Q' - 32] = { ".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#" },
	['R' - 32] = { "####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#" },
	['S' - 32] = { ".####", "#....", "#....", ".###.", "....#", "....#", "####." },
	['T' - 32] = { "#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.." },
	['U' - 32] = { "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###." },
	['V' - 32] = { "#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.." },
	['W' - 32] = { "#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#." },
	['X' - 32] = { "#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#" },
	['Y' - 32] = { "#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.." },
	['Z' - 32] = { "#####", "....#", "...#.", "..#..", ".#...", "#....", "#####" },
	['[' - 32] = { ".###.", ".#...", ".#...", ".#...", ".#...", ".#...", ".###." },
	['\\' - 32] = { ".....", "#....", ".#...", "..#..", "...#.", "....#", "....." },
	[']' - 32] = { ".###.", "...#.", "...#.", "...#.", "...#.", "...#.", ".###." },
	['^' - 32] = { "..#..", ".#.#.", "#...#", ".....", ".....", ".....", "....." },
	['_' - 32] = { ".....", ".....", ".....", ".....", ".....", ".....", "#####" },
	['`' - 32] = { ".#...", "..#..", "...#.", ".....", ".....", ".....", "....." },
	['a' - 32] = { ".....", ".....", ".###.", "....#", ".####", "#...#", ".####" },
	['b' - 32] = { "#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####." },
	['c' - 32] = { ".....", ".....", ".###.", "#....", "#....", "#...#", ".###." },
	['d' - 32] = { "....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####" },
	['e' - 32] = { ".....", ".....", ".###.", "#...#", "#####", "#....", ".###." },
	['f' - 32] = { "..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..." },
	['g' - 32] = { ".....", ".....", ".####", "#...#", ".####", "....#", ".###." },
	['h' - 32] = { "#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#" },
	['i' - 32] = { "..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###." },
	['j' - 32] = { "...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.." },
	['k' - 32] = { "#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#." },
	['l' - 32] = { ".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###." },
	['m' - 32] = { ".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#" },
	['n' - 32] = { ".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#" },
	['o' - 32] = { ".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###." },
	['p' - 32] = { ".....", ".....", "####.", "#...#", "####.", "#....", "#...." },
	['q' - 32] = { ".....", ".....", ".####", "#...#", ".####", "....#", "....#" },
	['r' - 32] = { ".....", ".....", "#.##.", "##..#", "#....", "#....", "#...." },
	['s' - 32] = { ".....", ".....", ".####", "#....", ".###.", "....#", "####." },
	['t' - 32] = { ".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##." },
	['u' - 32] = { ".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#" },
	['v' - 32] = { ".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.." },
	['w' - 32] = { ".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#." },
	['x' - 32] = { ".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#" },
	['y' - 32] = { ".....", ".....", "#...#", "#...#", ".####", "....#", ".###." },
	['z' - 32] = { ".....", ".....", "#####", "...#.", "..#..", ".#...", "#####" },
	['{' - 32] = { "...#.", "..#..", "..#..", ".#...", "..#..", "..#..", "...#." },
	['|' - 32] = { "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.." },
	['}' - 32] = { ".#...", "..#..", "..#..", "...#.", "..#..", "..#..", ".#..." },
	['~' - 32] = { ".....", ".....", ".#...", "#.#.#", "...#.", ".....", "....." },
};

static uint8_t font_bits[95][FONT_H];   /* bit 4 is the leftmost column */

/* ------------------------------------------------------------------------ */
/* Time and logging */

static int serial_fd = -1;
static char log_ring[LOG_RING][LOG_COLS];
static unsigned log_total;              /* lines ever added to log_ring */
static bool log_changed;                /* the on-screen log needs a redraw */

/* Copies a string into a fixed buffer, cutting it to fit (always terminated). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Seconds since the kernel booted. */
static double uptime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps for a fraction of a second. */
static void nap(double seconds)
{
	struct timespec ts = { (time_t)seconds,
			       (long)((seconds - (double)(time_t)seconds) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Opens the serial console for our log lines. It is opened non-blocking:
 * PID 1 must never hang because nobody drains the port, so serial_write()
 * waits a little for room and then drops the rest of a line.
 */
static void serial_open(void)
{
	if (serial_fd >= 0)
		return;
	serial_fd = open(SERIAL_DEV, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (serial_fd < 0)
		serial_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

/* Writes bytes to the serial console, dropping them if it stays full. */
static void serial_write(const char *buf, size_t len)
{
	while (len > 0 && serial_fd >= 0) {
		ssize_t n = write(serial_fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = serial_fd, .events = POLLOUT };

			if (poll(&p, 1, 200) > 0)
				continue;
		}
		return;
	}
}

/* Formats one log line; to the serial console always, to the screen if asked. */
static void vsay(bool on_screen, const char *fmt, va_list ap)
{
	char msg[LOG_COLS];
	char line[LOG_COLS + 16];
	int n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	n = snprintf(line, sizeof line, LOG_PREFIX "%s\n", msg);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	serial_write(line, (size_t)n);
	if (on_screen) {
		char *dst = log_ring[log_total % LOG_RING];
		int k = snprintf(dst, LOG_COLS, "%7.2f ", uptime());

		if (k > 0 && k < LOG_COLS)
			copy_str(dst + k, LOG_COLS - (size_t)k, msg);
		log_total++;
		log_changed = true;
	}
}

/* Logs a line on the serial console and in the on-screen event log. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(true, fmt, ap);
	va_end(ap);
}

/* Logs a line on the serial console only (noisy boot detail). */
__attribute__((format(printf, 1, 2)))
static void say_serial(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(false, fmt, ap);
	va_end(ap);
}

/* Turns font_art into bit rows once at start-up, reporting malformed glyphs. */
static void font_init(void)
{
	for (int c = 0; c < 95; c++) {
		for (int row = 0; row < FONT_H; row++) {
			const char *art = font_art[c][row];
			uint8_t bits = 0;

			if (art == NULL || strlen(art) != FONT_W) {
				say_serial("font glyph %d row %d malformed", c + 32, row);
				continue;
			}
			for (int col = 0; col < FONT_W; col++)
				if (art[col] == '#')
					bits |= (uint8_t)(1u << (FONT_W - 1 - col));
			font_bits[c][row] = bits;
		}
	}
}

/* ------------------------------------------------------------------------ */
/* Boot: file systems, console, modules */

/* Mounts devtmpfs, proc and sysfs; errors are reported once the log works. */
static void mount_basics(void)
{
	static const struct { const char *type, *dir; } fs[] = {
		{ "devtmpfs", "/dev" }, { "proc", "/proc" }, { "sysfs", "/sys" },
	};
	int err[3];

	for (int i = 0; i < 3; i++) {
		mkdir(fs[i].dir, 0755);
		err[i] = 0;
		if (mount(fs[i].type, fs[i].dir, fs[i].type, MS_NOSUID, NULL) < 0 && errno != EBUSY)
			err[i] = errno;
		if (i == 0)
			serial_open(); /* needs /dev */
	}
	for (int i = 0; i < 3; i++)
		if (err[i])
			say("error mount %s on %s: %s", fs[i].type, fs[i].dir, strerror(err[i]));
}

/*
 * Loads the kernel modules listed in /modules.order, one per line as
 * "<path> [parameters]". build.sh resolves dependencies and writes the list
 * in load order, so a plain finit_module() per line is all we need: no
 * modprobe, no modules.dep. EEXIST (already loaded or built in) is fine.
 */
static void load_modules(void)
{
	char line[512];
	int ok = 0, failed = 0;
	double t0 = uptime();
	FILE *f = fopen(MODULES_LIST, "re");

	if (f == NULL) {
		say("modules none: %s: %s", MODULES_LIST, strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		char *path, *params, *name, name_buf[64];
		int fd;

		line[strcspn(line, "\r\n")] = '\0';
		path = line + strspn(line, " \t");
		if (*path == '\0' || *path == '#')
			continue;
		params = path + strcspn(path, " \t");
		if (*params != '\0') {
			*params++ = '\0';
			params += strspn(params, " \t");
		}
		name = strrchr(path, '/');
		copy_str(name_buf, sizeof name_buf, name ? name + 1 : path);
		name_buf[strcspn(name_buf, ".")] = '\0'; /* "bochs.ko" -> "bochs" */
		name = name_buf;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			say("error module %s: %s", name, strerror(errno));
			failed++;
			continue;
		}
		if (syscall(SYS_finit_module, fd, params, 0) == 0 || errno == EEXIST) {
			say_serial("module %s loaded", name);
			ok++;
		} else {
			say("error module %s: %s", name, strerror(errno));
			failed++;
		}
		close(fd);
	}
	fclose(f);
	say("modules %d loaded, %d failed, %.2f s", ok, failed, uptime() - t0);
}

/* Waits up to `seconds` for a device node to appear; true if it did. */
static bool wait_for_node(const char *path, double seconds)
{
	double end = uptime() + seconds;

	while (access(path, F_OK) < 0) {
		if (uptime() >= end)
			return false;
		nap(0.05);
	}
	return true;
}

/*
 * Puts the virtual terminal into graphics mode. Debian's kernel has fbcon
 * built in; left in text mode it would draw a blinking cursor and console
 * text over our picture.
 */
static void console_graphics_mode(void)
{
	static int tty_fd = -1;

	if (tty_fd >= 0)
		return;
	tty_fd = open("/dev/tty0", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty_fd < 0 || ioctl(tty_fd, KDSETMODE, KD_GRAPHICS) < 0)
		say_serial("warning tty0 graphics mode: %s", strerror(errno));
}

/* ------------------------------------------------------------------------ */
/* Framebuffer and drawing */

struct rect {
	int x0, y0, x1, y1;     /* half-open: x0 <= x < x1 */
};

struct fb {
	int fd;
	uint8_t *map;           /* the whole mmap()ed device memory */
	size_t map_len;
	uint8_t *origin;        /* first visible pixel */
	int w, h, stride, bytespp;
	bool xrgb;              /* 32 bpp, red at 16, green 8, blue 0: no conversion */
	struct fb_var_screeninfo var;
	char id[17];
};

static struct fb fb = { .fd = -1 };
static uint32_t *scene;         /* what the screen should show, 0xRRGGBB, w * h */

#define MAX_DAMAGE 16
static struct rect damage_list[MAX_DAMAGE];
static int ndamage;

/* Screen layout, computed from the mode in layout_init(). */
static struct {
	int margin, title_h, bars_y, bars_h, ramp_y, ramp_h;
	int clock_y, track_y, track_h, block;
	int status_y, status_pitch, status_cols;
	struct rect log;
	int log_pitch, log_lines, log_cols;
} L;

/* Pointer state shared by input handling and drawing. */
static bool pointer_seen;
static int pointer_x, pointer_y;
#define POINTER_R 14            /* marker radius in pixels */

/*
 * Screen workloads for benchmarks, switched with F5 to F9. Only the default
 * one shows input on the screen; in the others input is logged on the serial
 * console only, so the amount of change stays what the workload says.
 */
enum workload { WL_DEFAULT, WL_IDLE, WL_TYPING, WL_MOTION, WL_SCROLL };
static const char *const workload_names[] = {
	[WL_DEFAULT] = "default", [WL_IDLE] = "idle", [WL_TYPING] = "typing",
	[WL_MOTION] = "motion", [WL_SCROLL] = "scroll",
};
static enum workload workload = WL_DEFAULT;
static bool redraw_pending;     /* a switch happened: draw the whole new picture */
static unsigned wl_frames;      /* steps drawn in the current workload, for "fps" */

/* Status lines shown above the event log. */
static char status_marker[LOG_COLS] = "disk marker: not checked yet";
static char status_pointer[LOG_COLS] = "pointer: no absolute pointer event yet";
static char status_key[LOG_COLS] = "last key: none yet  (F12 disk marker, F5-F9 workloads)";
static char status_inputs[LOG_COLS] = "input devices: none yet";
static bool status_changed = true;
static unsigned frame_count;

/* Opens /dev/fb0, makes sure the mode is at least 1024x768 and maps it; 0 or -errno. */
static int fb_open(void)
{
	struct fb_var_screeninfo var;
	struct fb_fix_screeninfo fix;
	int fd, r;

	fd = open(FB_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0)
		goto fail_errno;
	if (var.xres < MIN_W || var.yres < MIN_H) {
		/*
		 * video=1024x768 on the kernel command line normally gives
		 * us the mode already; asking here covers drivers that allow
		 * a mode change (DRM fbdev emulation only allows shrinking).
		 */
		struct fb_var_screeninfo want = var;

		want.xres = want.xres_virtual = MIN_W;
		want.yres = want.yres_virtual = MIN_H;
		want.xoffset = want.yoffset = 0;
		if (ioctl(fd, FBIOPUT_VSCREENINFO, &want) < 0)
			say("warning fb mode %dx%d refused (%s), using %ux%u",
			    MIN_W, MIN_H, strerror(errno), var.xres, var.yres);
		if (ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0)
			goto fail_errno;
	}
	if (ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0)
		goto fail_errno;
	if (fix.type != FB_TYPE_PACKED_PIXELS ||
	    (var.bits_per_pixel != 16 && var.bits_per_pixel != 24 && var.bits_per_pixel != 32)) {
		say("error fb type %u with %u bpp is not supported", fix.type, var.bits_per_pixel);
		r = -ENOTSUP;
		goto fail;
	}

	fb.fd = fd;
	fb.var = var;
	fb.w = (int)var.xres;
	fb.h = (int)var.yres;
	fb.stride = (int)fix.line_length;
	fb.bytespp = (int)var.bits_per_pixel / 8;
	fb.xrgb = var.bits_per_pixel == 32 && var.red.offset == 16 &&
		  var.green.offset == 8 && var.blue.offset == 0;
	memcpy(fb.id, fix.id, sizeof fix.id);
	fb.id[sizeof fb.id - 1] = '\0';
	fb.map_len = fix.smem_len ? fix.smem_len : (size_t)fb.stride * var.yres_virtual;
	fb.map = mmap(NULL, fb.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fb.map == MAP_FAILED) {
		r = -errno;
		say("error fb mmap: %s", strerror(errno));
		fb.map = NULL;
		goto fail;
	}
	fb.origin = fb.map + (size_t)var.yoffset * (size_t)fb.stride + (size_t)var.xoffset * (size_t)fb.bytespp;
	scene = calloc((size_t)fb.w * (size_t)fb.h, sizeof *scene);
	if (scene == NULL) {
		r = -ENOMEM;
		munmap(fb.map, fb.map_len);
		fb.map = NULL;
		goto fail;
	}
	say("fb %s %dx%d %u bpp stride %d", fb.id, fb.w, fb.h, var.bits_per_pixel, fb.stride);
	return 0;

fail_errno:
	r = -errno;
fail:
	close(fd);
	fb.fd = -1;
	return r;
}

/* Converts 0xRRGGBB to the framebuffer's pixel format. */
static uint32_t fb_pack(uint32_t rgb)
{
	const struct fb_var_screeninfo *v = &fb.var;
	uint32_t r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;

	if (fb.xrgb)
		return rgb;
	return ((r >> (8 - v->red.length)) << v->red.offset) |
	       ((g >> (8 - v->green.length)) << v->green.offset) |
	       ((b >> (8 - v->blue.length)) << v->blue.offset) |
	       (((1u << v->transp.length) - 1) << v->transp.offset);
}

/* The pointer marker, a crosshair three pixels thick with a black outline,
 * at offset dx,dy from the hot spot: its colour, or -1 where transparent. */
static int64_t pointer_pixel(int dx, int dy)
{
	int ax = abs(dx), ay = abs(dy);

	if ((ax <= 1 && ay < POINTER_R) || (ay <= 1 && ax < POINTER_R))
		return C_POINTER;
	if ((ax <= 2 && ay <= POINTER_R) || (ay <= 2 && ax <= POINTER_R))
		return C_OUTLINE;
	return -1;
}

/* Records that a scene rectangle must be copied to the framebuffer. */
static void damage(int x, int y, int w, int h)
{
	struct rect r = { x, y, x + w, y + h };

	if (scene == NULL)
		return;
	if (r.x0 < 0) r.x0 = 0;
	if (r.y0 < 0) r.y0 = 0;
	if (r.x1 > fb.w) r.x1 = fb.w;
	if (r.y1 > fb.h) r.y1 = fb.h;
	if (r.x0 >= r.x1 || r.y0 >= r.y1)
		return;
	for (int i = 0; i < ndamage; i++) {
		const struct rect *o = &damage_list[i];

		if (o->x0 <= r.x0 && o->y0 <= r.y0 && o->x1 >= r.x1 && o->y1 >= r.y1)
			return; /* already covered */
	}
	if (ndamage == MAX_DAMAGE) {
		/* Too many pieces: fold the last one into this one. */
		struct rect *o = &damage_list[--ndamage];

		if (o->x0 < r.x0) r.x0 = o->x0;
		if (o->y0 < r.y0) r.y0 = o->y0;
		if (o->x1 > r.x1) r.x1 = o->x1;
		if (o->y1 > r.y1) r.y1 = o->y1;
	}
	damage_list[ndamage++] = r;
}

/* True if the pointer marker is part of the picture: the default one and
 * its frozen copy, idle. */
static bool pointer_shown(void)
{
	return pointer_seen && (workload == WL_DEFAULT || workload == WL_IDLE);
}

/* Damages the area the pointer marker covers at its current position (only
 * while it moves with the pointer, in the default workload). */
static void damage_pointer(void)
{
	if (pointer_seen && workload == WL_DEFAULT)
		damage(pointer_x - POINTER_R, pointer_y - POINTER_R, 2 * POINTER_R + 1, 2 * POINTER_R + 1);
}

/*
 * Copies the damaged parts of the scene to the framebuffer, with the pointer
 * marker on top. Drawing into a RAM scene and copying only what changed keeps
 * the work small: under TCG every framebuffer write is slow, and the DRM
 * fbdev emulation forwards dirty pages to QEMU, whose VNC server in turn only
 * sends what changed.
 */
static void fb_flush(void)
{
	for (int i = 0; i < ndamage; i++) {
		const struct rect *r = &damage_list[i];

		for (int y = r->y0; y < r->y1; y++) {
			const uint32_t *src = scene + (size_t)y * (size_t)fb.w;
			uint8_t *dst = fb.origin + (size_t)y * (size_t)fb.stride;
			bool pointer_row = pointer_shown() && abs(y - pointer_y) <= POINTER_R;

			if (fb.xrgb && !pointer_row) {
				memcpy(dst + (size_t)r->x0 * 4, src + r->x0, (size_t)(r->x1 - r->x0) * 4);
				continue;
			}
			for (int x = r->x0; x < r->x1; x++) {
				uint32_t c = src[x];
				uint32_t px;

				if (pointer_row && abs(x - pointer_x) <= POINTER_R) {
					int64_t p = pointer_pixel(x - pointer_x, y - pointer_y);

					if (p >= 0)
						c = (uint32_t)p;
				}
				px = fb_pack(c);
				memcpy(dst + (size_t)x * (size_t)fb.bytespp, &px, (size_t)fb.bytespp);
			}
		}
	}
	ndamage = 0;
}

/*
 * Makes what was just written to the framebuffer visible now. DRM's fbdev
 * emulation (bochs, virtio-gpu) copies the pages written through the mmap
 * to the display only 50 ms after the first write (deferred I/O), so steps
 * closer together than that would reach QEMU, and VNC, as one update; an
 * fsync() on the device runs that copy at once. The benchmark workloads use
 * it so that each step is one update; the default picture does not need it.
 * Without deferred I/O (vesafb) it does nothing.
 */
static void fb_present(void)
{
	if (fb.fd >= 0)
		fsync(fb.fd);
}

/* Paints a scene rectangle with one colour, clipped, without recording damage. */
static void paint(int x, int y, int w, int h, uint32_t c)
{
	if (scene == NULL)
		return;
	for (int yy = y < 0 ? 0 : y; yy < y + h && yy < fb.h; yy++)
		for (int xx = x < 0 ? 0 : x; xx < x + w && xx < fb.w; xx++)
			scene[(size_t)yy * (size_t)fb.w + (size_t)xx] = c;
}

/* Fills a scene rectangle with one colour. */
static void fill(int x, int y, int w, int h, uint32_t c)
{
	paint(x, y, w, h, c);
	damage(x, y, w, h);
}

/*
 * Draws text at x,y with each font pixel scaled to scale x scale, filling
 * every cell with the background too, so redrawn text needs no clearing.
 * With cols > 0 the line is padded (or cut) to exactly that many cells.
 */
static void text(int x, int y, int scale, int cols, uint32_t fg, uint32_t bg, const char *s)
{
	int n = (int)strlen(s);

	if (cols <= 0)
		cols = n;
	for (int i = 0; i < cols; i++) {
		unsigned char ch = i < n ? (unsigned char)s[i] : ' ';
		int cx = x + i * CELL_W * scale;

		if (ch < 32 || ch > 126)
			ch = '?';
		paint(cx, y, CELL_W * scale, CELL_H * scale, bg);
		for (int row = 0; row < FONT_H; row++)
			for (int col = 0; col < FONT_W; col++)
				if (font_bits[ch - 32][row] & (1u << (FONT_W - 1 - col)))
					paint(cx + col * scale, y + row * scale, scale, scale, fg);
	}
	damage(x, y, cols * CELL_W * scale, CELL_H * scale);
}

/* Computes where everything goes for the current mode. */
static void layout_init(void)
{
	L.margin = 16;
	L.title_h = 72;
	L.bars_y = L.title_h;
	L.bars_h = 128;
	L.ramp_y = L.bars_y + L.bars_h;
	L.ramp_h = 32;
	L.clock_y = L.ramp_y + L.ramp_h + 12;
	L.track_y = L.clock_y + 24;
	L.track_h = 40;
	L.block = 40;
	L.status_y = L.track_y + L.track_h + 12;
	L.status_pitch = 20;
	L.status_cols = (fb.w - 2 * L.margin) / (CELL_W * 2);
	L.log.x0 = L.margin - 6;
	L.log.x1 = fb.w - L.margin + 6;
	L.log.y0 = L.status_y + 4 * L.status_pitch + 8;
	L.log.y1 = fb.h - 8;
	L.log_pitch = 18;
	L.log_lines = (L.log.y1 - L.log.y0 - 8) / L.log_pitch;
	L.log_cols = (L.log.x1 - L.log.x0 - 12) / (CELL_W * 2);
	if (L.log_lines < 1)
		L.log_lines = 1;
}

/* Draws the title bar: name on the left; mode, driver and workload on the right. */
static void draw_title(void)
{
	char info[64];

	fill(0, 0, fb.w, L.title_h, C_TITLE_BG);
	text(L.margin, 12, 6, 0, 0xffffff, C_TITLE_BG, "aula testguest");
	snprintf(info, sizeof info, "%dx%d %ubpp %s", fb.w, fb.h, fb.var.bits_per_pixel, fb.id);
	text(fb.w - L.margin - (int)strlen(info) * CELL_W * 2, 12, 2, 0, C_TEXT, C_TITLE_BG, info);
	snprintf(info, sizeof info, "workload %s", workload_names[workload]);
	text(fb.w - L.margin - (int)strlen(info) * CELL_W * 2, 44, 2, 0, C_KEY, C_TITLE_BG, info);
}

/* Draws the parts of the picture that never change. */
static void draw_static(void)
{
	/* Full-intensity bars: easy to recognise in a screendump or over RDP. */
	static const uint32_t bars[8] = {
		0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000,
	};

	fill(0, 0, fb.w, fb.h, C_BACKGROUND);
	draw_title();

	for (int i = 0; i < 8; i++) {
		int x0 = fb.w * i / 8, x1 = fb.w * (i + 1) / 8;

		fill(x0, L.bars_y, x1 - x0, L.bars_h, bars[i]);
	}
	for (int x = 0; x < fb.w; x++) {
		uint32_t g = (uint32_t)(x * 255 / (fb.w - 1));

		fill(x, L.ramp_y, 1, L.ramp_h, g << 16 | g << 8 | g);
	}
	fill(L.margin, L.track_y, fb.w - 2 * L.margin, L.track_h, C_TRACK);

	fill(L.log.x0, L.log.y0, L.log.x1 - L.log.x0, L.log.y1 - L.log.y0, C_LOG_BORDER);
	fill(L.log.x0 + 1, L.log.y0 + 1, L.log.x1 - L.log.x0 - 2, L.log.y1 - L.log.y0 - 2, C_LOG_BG);
}

/* Redraws the clock line and moves the block: the part that changes every tick. */
static void draw_tick(void)
{
	static int block_x = -1;
	int span = fb.w - 2 * L.margin - L.block;
	int pos;
	char line[LOG_COLS];

	if (span < 1)
		return; /* no room for a track */
	pos = (int)(frame_count * 8 % (unsigned)(2 * span));
	if (pos > span)
		pos = 2 * span - pos; /* bounce back */
	if (block_x >= 0)
		fill(L.margin + block_x, L.track_y, L.block, L.block, C_TRACK);
	block_x = pos;
	fill(L.margin + block_x, L.track_y, L.block, L.block, C_BLOCK);

	snprintf(line, sizeof line, "uptime %8.1f s    frame %7u", uptime(), frame_count);
	text(L.margin, L.clock_y, 2, L.status_cols, C_TEXT, C_BACKGROUND, line);
}

/* Redraws the status lines: disk marker, pointer, last key, input devices. */
static void draw_status(void)
{
	const char *lines[4] = { status_marker, status_pointer, status_key, status_inputs };

	for (int i = 0; i < 4; i++)
		text(L.margin, L.status_y + i * L.status_pitch, 2, L.status_cols,
		     i == 0 ? C_MARKER : C_TEXT, C_BACKGROUND, lines[i]);
	status_changed = false;
}

/* Picks a colour for a log line by what it reports. */
static uint32_t log_colour(const char *line)
{
	const char *msg = line + strspn(line, " 0123456789.");

	if (strncmp(msg, "key ", 4) == 0)
		return C_KEY;
	if (strncmp(msg, "pointer ", 8) == 0 || strncmp(msg, "motion ", 7) == 0 ||
	    strncmp(msg, "wheel ", 6) == 0 || strncmp(msg, "hwheel ", 7) == 0)
		return C_POINTER_TXT;
	if (strncmp(msg, "marker ", 7) == 0)
		return C_MARKER;
	if (strncmp(msg, "error", 5) == 0 || strncmp(msg, "warning", 7) == 0)
		return 0xff6060;
	return C_TEXT;
}

/* Redraws the event log box with the newest lines at the bottom. */
static void draw_log(void)
{
	unsigned shown = log_total < (unsigned)L.log_lines ? log_total : (unsigned)L.log_lines;
	unsigned first = log_total - shown;

	for (int i = 0; i < L.log_lines; i++) {
		int y = L.log.y0 + 5 + i * L.log_pitch;
		const char *s = "";

		if ((unsigned)i < shown)
			s = log_ring[(first + (unsigned)i) % LOG_RING];
		text(L.log.x0 + 6, y, 2, L.log_cols, log_colour(s), C_LOG_BG, s);
	}
	log_changed = false;
}

/* ------------------------------------------------------------------------ */
/* Workloads */

/*
 * What the typing and scroll workloads show: plain prose with digits and
 * punctuation, paragraphs ended by '\n', repeated when it runs out.
 */
static const char sample_text[] =
	"The quick brown fox jumps over the lazy dog. Pack my box with five dozen "
	"liquor jugs. Sphinx of black quartz, judge my vow!\n"
	"Minutes of the Tuesday meeting, 14:30: the nightly build went green at 02:12 "
	"after the cache fix; 3 of the 4 runners were idle most of the night. Next "
	"steps: move the backup job to 01:00, check the hit rate (87% today, 64% last "
	"week) and ask the network team about the 120 ms spikes.\n"
	"Dear Ms Novak, thank you for your letter of 9 May. The invoice (no. 2024-0419, "
	"EUR 1,280.00) was paid on the 14th; a copy of the transfer is attached. "
	"Kind regards, J. Berger\n"
	"for (i = 0; i < n; i++) { sum += a[i] * b[i]; } return n ? sum / n : 0;\n"
	"Rain again this morning. The tram was eleven minutes late, and the coffee "
	"machine on the third floor still says \"descale me\" - maybe on Friday?\n";

/* Typing: a page below the title bar filled one character at a time. */
static struct {
	int x0, y0, pitch;      /* top left character cell, line pitch */
	int cols, rows;         /* page size in characters */
	int row, col;           /* where the next character goes (the cursor) */
	size_t pos;             /* next character of sample_text */
} T;

/* Draws the cursor block (or erases it with the page colour). */
static void typing_cursor(uint32_t c)
{
	fill(T.x0 + T.col * CELL_W * 2, T.y0 + T.row * T.pitch, FONT_W * 2, FONT_H * 2, c);
}

/* Moves the cursor to the next line; after the last one the page is
 * cleared and typing goes on at the top (a new page). */
static void typing_newline(void)
{
	T.col = 0;
	if (++T.row >= T.rows) {
		T.row = 0;
		fill(0, L.title_h, fb.w, fb.h - L.title_h, C_LOG_BG);
	}
}

/* Starts the typing workload: the title bar above an empty page. */
static void typing_start(void)
{
	T.pitch = CELL_H * 2 + 4;
	T.x0 = L.margin;
	T.y0 = L.title_h + 16;
	T.cols = (fb.w - 2 * L.margin) / (CELL_W * 2);
	T.rows = (fb.h - T.y0 - 8) / T.pitch;
	if (T.cols < 1)
		T.cols = 1;
	if (T.rows < 1)
		T.rows = 1;
	T.row = T.col = 0;
	T.pos = 0;
	fill(0, 0, fb.w, fb.h, C_LOG_BG);
	draw_title();
	typing_cursor(C_CURSOR);
}

/* One keystroke: the next character of the sample text appears at the
 * cursor. Lines wrap at word boundaries; '\n' starts a new line. */
static void typing_step(void)
{
	char c, one[2] = { 0, 0 };

	for (;;) {
		c = sample_text[T.pos];
		if (c == '\0')
			T.pos = 0;
		else if (c == ' ' && T.col == 0)
			T.pos++; /* a wrapped line does not start with a space */
		else
			break;
	}
	typing_cursor(C_LOG_BG);
	if (c == '\n') {
		T.pos++;
		typing_newline();
		typing_cursor(C_CURSOR);
		return;
	}
	if (c != ' ' && T.col > 0 && (T.pos == 0 || sample_text[T.pos - 1] == ' ')) {
		int len = (int)strcspn(sample_text + T.pos, " \n");

		if (T.col + len > T.cols)
			typing_newline(); /* the word does not fit on this line */
	}
	T.pos++;
	one[0] = c;
	text(T.x0 + T.col * CELL_W * 2, T.y0 + T.row * T.pitch, 2, 1, C_TEXT, C_LOG_BG, one);
	if (++T.col >= T.cols)
		typing_newline();
	typing_cursor(C_CURSOR);
}

/* Scroll: numbered text lines with alternating backgrounds below the title
 * bar, moving up SCROLL_PX rows per step, a new line coming in at the bottom. */
_Static_assert(SCROLL_PX == CELL_H * 2, "a scroll step is one line of 2x text");

static struct {
	int y0;                 /* top of the scrolling area; its height is a multiple of SCROLL_PX */
	unsigned next;          /* number of the line that comes in next */
} S;

/* Draws line number n of the scrolling page at y: its number and a piece of
 * the sample text whose start and length vary from line to line. */
static void scroll_line(int y, unsigned n)
{
	static const uint32_t colours[] = { C_TEXT, C_POINTER_TXT, C_KEY, 0xa0f0a0, 0xffa0a0 };
	const size_t text_len = sizeof sample_text - 1;
	uint32_t bg = n % 2 ? C_ZEBRA_B : C_ZEBRA_A;
	int cols = (fb.w - 2 * L.margin) / (CELL_W * 2) - 8;
	char num[16], line[LOG_COLS];
	size_t start = (size_t)n * 97 % text_len;
	int len = 0;

	if (cols > (int)sizeof line - 1)
		cols = (int)sizeof line - 1;
	if (cols > 24)
		len = 24 + (int)(n * 53 % (unsigned)(cols - 24 + 1));
	/* From the start of a word ... */
	for (size_t i = 0; i < text_len && !isspace((unsigned char)sample_text[start]); i++)
		start = (start + 1) % text_len;
	start = (start + 1) % text_len;
	for (int i = 0; i < len; i++) {
		char c = sample_text[(start + (size_t)i) % text_len];

		line[i] = c == '\n' ? ' ' : c;
	}
	/* ... to the end of one, where the line has room for that. */
	if (!isspace((unsigned char)sample_text[(start + (size_t)len) % text_len]))
		for (int i = len - 1; i > len / 2; i--)
			if (line[i] == ' ') {
				len = i;
				break;
			}
	line[len] = '\0';
	snprintf(num, sizeof num, "%6u", n);
	paint(0, y, fb.w, SCROLL_PX, bg);
	text(L.margin, y, 2, 0, C_DIM, bg, num);
	text(L.margin + 8 * CELL_W * 2, y, 2, 0, colours[n % 5], bg, line);
}

/* Starts the scroll workload: the title bar above a full page of lines. */
static void scroll_start(void)
{
	int lines = (fb.h - L.title_h) / SCROLL_PX;

	if (lines < 1)
		lines = 1;
	S.y0 = fb.h - lines * SCROLL_PX;
	fill(0, 0, fb.w, fb.h, C_BACKGROUND);
	draw_title();
	for (int i = 0; i < lines; i++)
		scroll_line(S.y0 + i * SCROLL_PX, (unsigned)i + 1);
	S.next = (unsigned)lines + 1;
}

/* One scroll step: the whole area moves up, a new line at the bottom. */
static void scroll_step(void)
{
	size_t row = (size_t)fb.w;

	damage(0, S.y0, fb.w, fb.h - S.y0); /* first: it covers the text drawn below */
	memmove(scene + (size_t)S.y0 * row, scene + (size_t)(S.y0 + SCROLL_PX) * row,
		(size_t)(fb.h - S.y0 - SCROLL_PX) * row * sizeof *scene);
	scroll_line(fb.h - SCROLL_PX, S.next++);
}

/*
 * Motion: the whole screen, every frame. A checkerboard of 64 px squares
 * over a hue gradient; each band of squares slides sideways, alternately
 * left and right, 8 px a frame, and the bands move up 4 px a frame, so every
 * pixel changes every frame. Each screen row is a window into one of two
 * precomputed pattern rows (already in the framebuffer's pixel format), so a
 * frame is one memcpy per row straight into the framebuffer; the scene is
 * not used and is redrawn when the workload changes.
 */
#define MOTION_PERIOD  1536     /* the hue wheel, one step per pixel; a multiple of 2 squares */
#define MOTION_SQUARE  64

static uint8_t *motion_band[2];  /* MOTION_PERIOD + fb.w pixels each; [k]: squares k, k+2, ... bright */

/* A fully saturated colour, i along the hue wheel (0 <= i < MOTION_PERIOD). */
static uint32_t hue(unsigned i)
{
	uint32_t f = i % 256;

	switch (i / 256) {
	case 0:  return 0xff0000 | f << 8;              /* red to yellow */
	case 1:  return (255 - f) << 16 | 0x00ff00;     /* yellow to green */
	case 2:  return 0x00ff00 | f;                   /* green to cyan */
	case 3:  return (255 - f) << 8 | 0x0000ff;      /* cyan to blue */
	case 4:  return f << 16 | 0x0000ff;             /* blue to magenta */
	default: return 0xff0000 | (255 - f);           /* magenta to red */
	}
}

/* Builds the two pattern rows once; false if there is no memory for them. */
static bool motion_start(void)
{
	int n = MOTION_PERIOD + fb.w;

	for (unsigned k = 0; k < 2; k++) {
		if (motion_band[k] != NULL)
			continue;
		motion_band[k] = malloc((size_t)n * (size_t)fb.bytespp);
		if (motion_band[k] == NULL) {
			say("error motion: no memory");
			return false;
		}
		for (int x = 0; x < n; x++) {
			unsigned hx = (unsigned)x % MOTION_PERIOD;
			uint32_t c = hue(hx);
			uint32_t px;

			if ((hx / MOTION_SQUARE) % 2 != k)
				c = (c >> 2) & 0x3f3f3f; /* a dark square: a quarter of the brightness */
			px = fb_pack(c);
			memcpy(motion_band[k] + (size_t)x * (size_t)fb.bytespp, &px, (size_t)fb.bytespp);
		}
	}
	return true;
}

/* Draws motion frame number wl_frames straight into the framebuffer. */
static void motion_frame(void)
{
	unsigned t = wl_frames, d = 8 * t % MOTION_PERIOD;

	if (motion_band[0] == NULL || motion_band[1] == NULL)
		return;
	for (int y = 0; y < fb.h; y++) {
		unsigned band = ((unsigned)y + 4 * t) / MOTION_SQUARE;
		unsigned k = band % 2;
		unsigned off = (band * 160 + (k ? d : MOTION_PERIOD - d)) % MOTION_PERIOD;

		memcpy(fb.origin + (size_t)y * (size_t)fb.stride,
		       motion_band[k] + (size_t)off * (size_t)fb.bytespp,
		       (size_t)fb.w * (size_t)fb.bytespp);
	}
	wl_frames++;
}

/* The time between two steps of the current workload; 0 if it has none. */
static double workload_period(void)
{
	switch (workload) {
	case WL_DEFAULT: return TICK_S;
	case WL_TYPING:  return TYPING_S;
	case WL_SCROLL:  return SCROLL_S;
	case WL_MOTION:  return MOTION_S;
	default:         return 0;
	}
}

/* True if the workload reports its frame rate ("fps N") on the serial console. */
static bool workload_counts_frames(void)
{
	return workload == WL_MOTION || workload == WL_SCROLL;
}

/* Draws the whole picture of the current workload, as after a switch. */
static void workload_redraw(void)
{
	wl_frames = 0;
	redraw_pending = false;
	switch (workload) {
	case WL_DEFAULT:
	case WL_IDLE: /* the default picture, then nothing more */
		draw_static();
		draw_tick();
		draw_status();
		draw_log();
		fb_flush();
		break;
	case WL_TYPING:
		typing_start();
		fb_flush();
		break;
	case WL_SCROLL:
		scroll_start();
		fb_flush();
		break;
	case WL_MOTION:
		ndamage = 0; /* motion does not copy from the scene */
		if (motion_start())
			motion_frame();
		break;
	}
	if (workload != WL_DEFAULT)
		fb_present();
}

/* One step of the typing, scroll or motion workload. */
static void workload_step(void)
{
	switch (workload) {
	case WL_TYPING:
		typing_step();
		fb_flush();
		wl_frames++;
		break;
	case WL_SCROLL:
		scroll_step();
		fb_flush();
		wl_frames++;
		break;
	case WL_MOTION:
		motion_frame();
		break;
	default:
		return;
	}
	fb_present();
}

/* F5 to F9 switch the workload; the same key again starts it afresh. */
static void workload_key(unsigned code)
{
	static const struct { unsigned key; enum workload w; } keys[] = {
		{ KEY_F5, WL_IDLE }, { KEY_F6, WL_TYPING }, { KEY_F7, WL_MOTION },
		{ KEY_F8, WL_SCROLL }, { KEY_F9, WL_DEFAULT },
	};

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].key == code) {
			workload = keys[i].w;
			redraw_pending = true;
			say("workload %s", workload_names[workload]);
			return;
		}
}

/* ------------------------------------------------------------------------ */
/* Disk marker */

static bool marker_checked;

/* Reads sector 0 of the disk and reports whether a marker is there. */
static void marker_check(void)
{
	char sector[SECTOR_SIZE];
	char text_buf[80];
	ssize_t n;
	size_t i, magic_len = strlen(MARKER_MAGIC);
	int fd = open(DISK_DEV, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		say("marker error %s: %s", DISK_DEV, strerror(errno));
		snprintf(status_marker, sizeof status_marker, "disk marker: no disk %s", DISK_DEV);
		status_changed = true;
		return;
	}
	n = pread(fd, sector, sizeof sector, 0);
	close(fd);
	marker_checked = true;
	if (n != (ssize_t)sizeof sector) {
		say("marker error reading %s: %s", DISK_DEV, n < 0 ? strerror(errno) : "short read");
		return;
	}
	if (memcmp(sector, MARKER_MAGIC, magic_len) != 0) {
		say("marker absent");
		snprintf(status_marker, sizeof status_marker,
			 "disk marker: absent  (F12 writes it)");
		status_changed = true;
		return;
	}
	/* Show what follows the magic, printable ASCII only: the sector is
	 * whatever the disk holds, not necessarily something we wrote. */
	for (i = 0; i < sizeof text_buf - 1 && i < sizeof sector; i++) {
		if (sector[i] < 32 || sector[i] > 126)
			break;
		text_buf[i] = sector[i];
	}
	text_buf[i] = '\0';
	say("marker present %s", text_buf);
	snprintf(status_marker, sizeof status_marker, "disk marker: present \"%s\"", text_buf);
	status_changed = true;
}

/* Writes "AULA-MARKER <seconds since boot>" to sector 0 and flushes it to the disk. */
static void marker_write(void)
{
	char sector[SECTOR_SIZE] = { 0 };
	int fd;

	snprintf(sector, sizeof sector, "%s %.1f", MARKER_MAGIC, uptime());
	fd = open(DISK_DEV, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		say("marker error %s: %s", DISK_DEV, strerror(errno));
		return;
	}
	if (pwrite(fd, sector, sizeof sector, 0) != (ssize_t)sizeof sector) {
		say("marker error writing %s: %s", DISK_DEV, strerror(errno));
		close(fd);
		return;
	}
	/* fsync on the block device sends a flush: QEMU writes the qcow2 then. */
	if (fsync(fd) < 0) {
		say("marker error flushing %s: %s", DISK_DEV, strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	say("marker written %s", sector);
	snprintf(status_marker, sizeof status_marker, "disk marker: written \"%s\"", sector);
	status_changed = true;
}

/* ------------------------------------------------------------------------ */
/* Input */

struct input_dev {
	int fd;                 /* -1: free slot */
	char node[24];          /* "event3" */
	char name[64];
	bool absolute;          /* reports ABS_X and ABS_Y */
	struct input_absinfo ax, ay;
	int x, y;               /* last absolute position, device units */
	int dx, dy, wheel, hwheel;      /* accumulated until SYN_REPORT */
	unsigned buttons;       /* bit 0 left, 1 middle, 2 right, 3 side, 4 extra */
	bool moved, buttons_changed;
};

static struct input_dev inputs[MAX_INPUTS];

/* Tests bit n of an evdev capability bitmap. */
static bool bit_set(const unsigned long *bits, unsigned n)
{
	const unsigned per = 8 * sizeof(unsigned long);

	return (bits[n / per] >> (n % per)) & 1;
}

/* Rewrites the "input devices" status line. */
static void inputs_status(void)
{
	int n = 0, len;

	len = snprintf(status_inputs, sizeof status_inputs, "input devices:");
	for (int i = 0; i < MAX_INPUTS; i++) {
		if (inputs[i].fd < 0)
			continue;
		n++;
		if (len < (int)sizeof status_inputs)
			len += snprintf(status_inputs + len, sizeof status_inputs - (size_t)len,
					" %s%s", inputs[i].node, inputs[i].absolute ? "(abs)" : "");
	}
	if (n == 0)
		snprintf(status_inputs, sizeof status_inputs, "input devices: none yet");
	status_changed = true;
}

/* Opens one /dev/input/eventN node and grabs it. */
static void input_open(const char *node)
{
	unsigned long absbits[(ABS_MAX + 1) / (8 * sizeof(unsigned long)) + 1] = { 0 };
	char path[sizeof INPUT_DIR + 256];
	struct input_dev *d = NULL;

	for (int i = 0; i < MAX_INPUTS; i++)
		if (inputs[i].fd < 0) {
			d = &inputs[i];
			break;
		}
	if (d == NULL)
		return;
	snprintf(path, sizeof path, INPUT_DIR "/%s", node);
	memset(d, 0, sizeof *d);
	/* Read-write: the lock keys' LEDs are written back (see lock_key). */
	d->fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (d->fd < 0)
		d->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (d->fd < 0) {
		say_serial("warning input %s: %s", node, strerror(errno));
		return; /* slot stays free (fd -1); retried on the next scan */
	}
	copy_str(d->node, sizeof d->node, node);
	if (ioctl(d->fd, EVIOCGNAME(sizeof d->name - 1), d->name) < 0)
		snprintf(d->name, sizeof d->name, "unknown");
	if (ioctl(d->fd, EVIOCGBIT(EV_ABS, sizeof absbits), absbits) >= 0 &&
	    bit_set(absbits, ABS_X) && bit_set(absbits, ABS_Y) &&
	    ioctl(d->fd, EVIOCGABS(ABS_X), &d->ax) >= 0 &&
	    ioctl(d->fd, EVIOCGABS(ABS_Y), &d->ay) >= 0)
		d->absolute = true;
	/*
	 * Grab the device so the kernel's own keyboard handler never sees our
	 * keys: otherwise Alt+Fn would switch virtual terminals (and fbcon
	 * would repaint the screen) and Ctrl+Alt+Del would reboot the guest.
	 */
	if (ioctl(d->fd, EVIOCGRAB, 1) < 0)
		say_serial("warning input %s grab: %s", node, strerror(errno));
	say("input %s \"%s\"%s", d->node, d->name, d->absolute ? " absolute" : "");
	inputs_status();
}

/* Opens input devices that appeared since the last scan. */
static void input_scan(void)
{
	DIR *dir = opendir(INPUT_DIR);
	struct dirent *e;

	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		bool known = false;

		if (strncmp(e->d_name, "event", 5) != 0)
			continue;
		for (int i = 0; i < MAX_INPUTS; i++)
			if (inputs[i].fd >= 0 && strcmp(inputs[i].node, e->d_name) == 0)
				known = true;
		if (!known)
			input_open(e->d_name);
	}
	closedir(dir);
}

/* Maps an absolute device coordinate to a screen pixel. QEMU scales pixel p
 * to p * 32767 / (size - 1), truncating; rounding here gives p back. */
static int abs_to_screen(int v, const struct input_absinfo *a, int size)
{
	long range = (long)a->maximum - a->minimum;
	long p;

	if (range <= 0 || size <= 1)
		return 0;
	p = ((long)(v - a->minimum) * (size - 1) + range / 2) / range;
	if (p < 0)
		p = 0;
	if (p > size - 1)
		p = size - 1;
	return (int)p;
}

/* The button-mask bit for a mouse button code, 0 if it is not one. */
static unsigned button_bit(unsigned code)
{
	if (code >= BTN_MOUSE && code < BTN_MOUSE + 8) {
		switch (code) {
		case BTN_LEFT:   return 1;
		case BTN_MIDDLE: return 2;
		case BTN_RIGHT:  return 4;
		default:         return 1u << (code - BTN_MOUSE + 1); /* side 8, extra 16, ... */
		}
	}
	return 0;
}

/* Reports what a device did since its last SYN_REPORT. */
static void input_report(struct input_dev *d)
{
	int w = scene ? fb.w : MIN_W, h = scene ? fb.h : MIN_H;

	if (d->absolute && (d->moved || d->buttons_changed)) {
		damage_pointer();
		pointer_x = abs_to_screen(d->x, &d->ax, w);
		pointer_y = abs_to_screen(d->y, &d->ay, h);
		pointer_seen = true;
		damage_pointer();
		say("pointer %d %d buttons %u", pointer_x, pointer_y, d->buttons);
		snprintf(status_pointer, sizeof status_pointer, "pointer: %d %d buttons %u  (%s)",
			 pointer_x, pointer_y, d->buttons, d->node);
		status_changed = true;
	} else if (!d->absolute && (d->dx || d->dy || d->buttons_changed)) {
		say("motion %d %d buttons %u", d->dx, d->dy, d->buttons);
	}
	if (d->wheel)
		say("wheel %d", d->wheel);
	if (d->hwheel)
		say("hwheel %d", d->hwheel);
	d->dx = d->dy = d->wheel = d->hwheel = 0;
	d->moved = d->buttons_changed = false;
}

/*
 * Caps, Num and Scroll Lock toggle their LEDs on every keyboard, as a
 * desktop's input stack does (the kernel's own keyboard handler, which
 * would, never sees our grabbed devices). The host reads the LEDs back.
 */
static void lock_key(unsigned code)
{
	static unsigned leds;   /* bits LED_NUML, LED_CAPSL, LED_SCROLLL */
	unsigned led;
	struct input_event out[2];

	switch (code) {
	case KEY_CAPSLOCK:   led = LED_CAPSL; break;
	case KEY_NUMLOCK:    led = LED_NUML; break;
	case KEY_SCROLLLOCK: led = LED_SCROLLL; break;
	default: return;
	}
	leds ^= 1u << led;
	memset(out, 0, sizeof out);
	out[0].type = EV_LED;
	out[0].code = (unsigned short)led;
	out[0].value = (leds >> led) & 1;
	out[1].type = EV_SYN;
	out[1].code = SYN_REPORT;
	for (int i = 0; i < MAX_INPUTS; i++)
		if (inputs[i].fd >= 0 && write(inputs[i].fd, out, sizeof out) < 0 &&
		    errno != EINVAL && errno != EBADF)
			say_serial("warning input %s LED: %s", inputs[i].node, strerror(errno));
	say("lock LED %u %s", led, out[0].value ? "on" : "off");
}

/* Handles one evdev event. */
static void input_event(struct input_dev *d, const struct input_event *ev)
{
	static const char *const how[] = { "up", "down", "repeat" };
	unsigned bit;

	switch (ev->type) {
	case EV_KEY:
		bit = button_bit(ev->code);
		if (bit != 0) {
			if (ev->value)
				d->buttons |= bit;
			else
				d->buttons &= ~bit;
			d->buttons_changed = true;
		} else if (ev->code == BTN_GEAR_UP || ev->code == BTN_GEAR_DOWN) {
			/* QEMU's virtio tablet reports the wheel as these buttons. */
			if (ev->value == 1)
				d->wheel += ev->code == BTN_GEAR_UP ? 1 : -1;
		} else if (ev->value >= 0 && ev->value <= 2) {
			say("key %u %s", ev->code, how[ev->value]);
			snprintf(status_key, sizeof status_key,
				 "last key: %u %s  (%s)  F12 disk marker, F5-F9 workloads",
				 ev->code, how[ev->value], d->node);
			status_changed = true;
			if (ev->code == KEY_F12 && ev->value == 1)
				marker_write();
			if (ev->value == 1)
				lock_key(ev->code);
			if (ev->value == 1)
				workload_key(ev->code);
		}
		break;
	case EV_ABS:
		if (ev->code == ABS_X) {
			d->x = ev->value;
			d->moved = true;
		} else if (ev->code == ABS_Y) {
			d->y = ev->value;
			d->moved = true;
		}
		break;
	case EV_REL:
		if (ev->code == REL_X)
			d->dx += ev->value;
		else if (ev->code == REL_Y)
			d->dy += ev->value;
		else if (ev->code == REL_WHEEL)
			d->wheel += ev->value;
		else if (ev->code == REL_HWHEEL)
			d->hwheel += ev->value;
		break;
	case EV_SYN:
		if (ev->code == SYN_REPORT)
			input_report(d);
		break;
	default:
		break;
	}
}

/* Reads everything a device has queued; closes it when it went away. */
static void input_read(struct input_dev *d)
{
	struct input_event ev[64];

	for (;;) {
		ssize_t n = read(d->fd, ev, sizeof ev);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			say("input %s removed", d->node);
			close(d->fd);
			d->fd = -1;
			inputs_status();
			return;
		}
		for (size_t i = 0; i < (size_t)n / sizeof ev[0]; i++)
			input_event(d, &ev[i]);
	}
}

/* ------------------------------------------------------------------------ */
/* Debug shell */

static pid_t shell_pid = -1;
static double shell_next_start;

/* Reaps exited children and keeps a busybox shell on the serial console when
 * the kernel command line says testguest.shell (for debugging by hand). */
static void shell_tend(bool wanted)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == shell_pid)
			shell_pid = -1;
	if (!wanted || shell_pid > 0 || uptime() < shell_next_start)
		return;
	shell_next_start = uptime() + 2; /* do not spin if the shell cannot start */
	pid = fork();
	if (pid == 0) {
		char *argv[] = { "/bin/sh", NULL };
		char *envp[] = { "PATH=/bin", "HOME=/", "TERM=vt100", NULL };
		int fd;

		setsid();
		fd = open(SERIAL_DEV, O_RDWR);
		if (fd < 0)
			_exit(127);
		ioctl(fd, TIOCSCTTY, 1);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	if (pid > 0) {
		shell_pid = pid;
		say_serial("shell started on %s, pid %d", SERIAL_DEV, (int)pid);
	}
}

/* True if the kernel command line contains the given word. */
static bool cmdline_has(const char *word)
{
	char buf[1024];
	ssize_t n;
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	size_t len = strlen(word);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *p = buf; (p = strstr(p, word)) != NULL; p += len)
		if ((p == buf || p[-1] == ' ') &&
		    (p[len] == '\0' || p[len] == ' ' || p[len] == '\n' || p[len] == '='))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Main loop */

/* Tries to open the framebuffer and, once it works, draws the whole screen. */
static bool screen_start(void)
{
	static int last_error;
	int r = fb_open();

	if (r < 0) {
		if (r != last_error) /* once per distinct error, not every second */
			say_serial("warning %s not usable yet: %s", FB_DEV, strerror(-r));
		last_error = r;
		return false;
	}
	console_graphics_mode();
	layout_init();
	workload_redraw();
	say("ready %dx%d %ubpp %s", fb.w, fb.h, fb.var.bits_per_pixel, fb.id);
	return true;
}

int main(void)
{
	struct utsname u;
	bool screen = false, want_shell;
	double next_tick, next_scan, next_fps = 0, fps_t0 = 0, last_render = 0;
	unsigned fps_frames = 0;

	for (int i = 0; i < MAX_INPUTS; i++)
		inputs[i].fd = -1;
	mount_basics();
	font_init();
	uname(&u);
	say("boot aula testguest, kernel %s, %.2f s since boot", u.release, uptime());
	want_shell = cmdline_has("testguest.shell");

	load_modules();
	if (wait_for_node(DISK_DEV, 5))
		marker_check();
	else
		say("marker error no disk %s", DISK_DEV);
	if (!wait_for_node(FB_DEV, 10))
		say("error no framebuffer %s yet, will keep looking", FB_DEV);
	input_scan();
	screen = screen_start();

	next_tick = next_scan = uptime();
	for (;;) {
		struct pollfd pfd[MAX_INPUTS];
		int idx[MAX_INPUTS], n = 0, timeout_ms;
		double now = uptime(), wake, period;
		bool ticked = false;

		if (now >= next_scan) {
			input_scan();
			if (!screen)
				screen = screen_start();
			if (!marker_checked && access(DISK_DEV, F_OK) == 0)
				marker_check();
			shell_tend(want_shell);
			next_scan = now + RESCAN_S;
		}
		period = workload_period();
		if (screen && redraw_pending) {
			/* F5..F9: the new workload's whole picture, right away. */
			workload_redraw();
			now = last_render = fps_t0 = uptime();
			next_tick = now + period;
			next_fps = now + FPS_S;
			fps_frames = wl_frames;
		}
		if (period > 0 && now >= next_tick) {
			next_tick += period;
			if (next_tick < now) {
				/* Fell behind: skip, don't burst. The default picture
				 * waits a tick; the workloads go on at once, as fast
				 * as the guest can. */
				next_tick = workload == WL_DEFAULT ? now + period : now;
			}
			ticked = true;
		}
		if (workload == WL_DEFAULT) {
			if (ticked)
				frame_count++;
			if (screen && (ticked || now - last_render >= MIN_RENDER_S)) {
				if (ticked)
					draw_tick();
				if (status_changed)
					draw_status();
				if (log_changed)
					draw_log();
				if (ndamage > 0) {
					fb_flush();
					last_render = now;
				}
			}
		} else if (screen && ticked) {
			workload_step();
		}
		if (screen && workload_counts_frames() && now >= next_fps) {
			say_serial("fps %u", (unsigned)((double)(wl_frames - fps_frames) / (now - fps_t0) + 0.5));
			fps_frames = wl_frames;
			fps_t0 = now;
			next_fps = now + FPS_S;
		}

		for (int i = 0; i < MAX_INPUTS; i++)
			if (inputs[i].fd >= 0) {
				pfd[n].fd = inputs[i].fd;
				pfd[n].events = POLLIN;
				idx[n++] = i;
			}
		wake = next_scan;
		if (period > 0 && next_tick < wake)
			wake = next_tick;
		if (screen && workload_counts_frames() && next_fps < wake)
			wake = next_fps;
		/* Something to show but rate-limited: come back when allowed.
		 * Only the default picture shows input. */
		if (screen && workload == WL_DEFAULT && (ndamage > 0 || status_changed || log_changed) &&
		    last_render + MIN_RENDER_S < wake)
			wake = last_render + MIN_RENDER_S;
		wake -= uptime();
		timeout_ms = wake > 0 ? (int)(wake * 1000) + 1 : 0;
		if (poll(pfd, (nfds_t)n, timeout_ms) > 0)
			for (int i = 0; i < n; i++)
				if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
					input_read(&inputs[idx[i]]);
	}
}
