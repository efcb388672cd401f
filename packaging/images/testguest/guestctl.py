#!/usr/bin/env python3
"""guestctl.py: small helpers to drive and inspect the testguest under QEMU.

Standard library only (no Pillow), so the e2e tests and boot-check.sh need
nothing beyond python3:

  guestctl.py hmp SOCK CMD...             run HMP monitor commands, print output
  guestctl.py pointer SOCK X Y W H [B]    absolute pointer to pixel X,Y of a WxH
                                          screen over QMP, then press+release
                                          button mask B (1 left, 2 middle, 4 right,
                                          8 wheel up, 16 wheel down)
  guestctl.py check FILE.ppm              screen is not blank and shows the
                                          testguest colour bars
  guestctl.py differ A.ppm B.ppm          the two screens differ (exit 1 if not)
  guestctl.py pixel FILE.ppm X Y          print the pixel's R G B
  guestctl.py png FILE.ppm FILE.png       convert a screendump for viewing
"""
import json
import re
import socket
import struct
import sys
import time
import zlib

# Must match guest.c: bars drawn across y 72..199, eight equal columns.
BARS_Y = 136
BARS = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
        (255, 0, 255), (255, 0, 0), (0, 0, 255), (0, 0, 0)]
POINTER_COLOUR = (255, 128, 0)


def fail(msg):
    print("guestctl: " + msg, file=sys.stderr)
    sys.exit(1)


def hmp(path, commands):
    """Runs HMP commands on a monitor socket; returns their output lines."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)

    def until_prompt():
        buf = b""
        while not buf.endswith(b"(qemu) "):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        # The monitor echoes input with cursor movement escapes; drop them.
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", buf.decode(errors="replace"))
        return [l for l in text.replace("\r", "").split("\n")[1:] if l != "(qemu) "]

    until_prompt()
    out = []
    for c in commands:
        s.sendall(c.encode() + b"\n")
        out += until_prompt()
    s.close()
    return out


def qmp(path, commands):
    """Runs QMP commands (dicts) on a QMP socket; fails on an error reply."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rwb")

    def reply():
        while True:
            msg = json.loads(f.readline())
            if "return" in msg or "error" in msg:
                return msg

    json.loads(f.readline())  # greeting
    for c in [{"execute": "qmp_capabilities"}] + commands:
        f.write(json.dumps(c).encode() + b"\n")
        f.flush()
        r = reply()
        if "error" in r:
            fail("QMP %s: %s" % (c["execute"], r["error"]))
    s.close()


def pointer(path, x, y, w, h, buttons):
    """Moves the absolute pointer to pixel x,y and clicks the given buttons.
    QEMU scales a pixel p on a screen of size n to p * 0x7fff / (n - 1)."""
    ax = x * 0x7FFF // (w - 1)
    ay = y * 0x7FFF // (h - 1)
    move = {"execute": "input-send-event", "arguments": {"events": [
        {"type": "abs", "data": {"axis": "x", "value": ax}},
        {"type": "abs", "data": {"axis": "y", "value": ay}}]}}
    cmds = [move]
    # Bits as in an RFB pointer event: 8 and 16 are the wheel.
    names = [(1, "left"), (2, "middle"), (4, "right"), (8, "wheel-up"), (16, "wheel-down")]
    for down in (True, False):
        evs = [{"type": "btn", "data": {"down": down, "button": n}}
               for bit, n in names if buttons & bit]
        if evs:
            cmds.append({"execute": "input-send-event", "arguments": {"events": evs}})
    for c in cmds:
        qmp(path, [c])
        time.sleep(0.2)  # let the guest see each report separately


def read_ppm(path):
    """Returns (width, height, rgb bytes) of a binary PPM (P6, maxval 255)."""
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4 and pos < len(data):
        if data[pos:pos + 1].isspace():
            pos += 1
        elif data[pos:pos + 1] == b"#":  # comment to the end of the line
            pos = data.find(b"\n", pos) % (len(data) + 1) + 1
        else:
            end = pos
            while end < len(data) and not data[end:end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
    if len(fields) < 4:
        fail("%s: not a PPM file" % path)
    if fields[0] != b"P6" or fields[3] != b"255":
        fail("%s: only P6 with maxval 255 is supported" % path)
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        fail("%s: truncated" % path)
    return w, h, pixels


def pixel(img, x, y):
    w, _, px = img
    i = (y * w + x) * 3
    return tuple(px[i:i + 3])


def close_to(a, b, tol=12):
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def check(path):
    """Not blank, and the colour bars are where guest.c draws them."""
    img = read_ppm(path)
    w, h, px = img
    if w < 1024 or h < 768:
        fail("%s: screen is %dx%d, want at least 1024x768" % (path, w, h))
    colours = set(px[i:i + 3] for i in range(0, len(px), 3 * 97))
    if len(colours) < 8:
        fail("%s: looks blank (%d colours sampled)" % (path, len(colours)))
    for i, want in enumerate(BARS):
        x = w * i // 8 + w // 16
        got = pixel(img, x, BARS_Y)
        if not close_to(got, want):
            fail("%s: colour bar %d at %d,%d is %s, want %s" % (path, i, x, BARS_Y, got, want))
    print("%s: %dx%d, %d+ colours, colour bars present" % (path, w, h, len(colours)))


def differ(a, b):
    ia, ib = read_ppm(a), read_ppm(b)
    if ia[:2] != ib[:2]:
        print("%s and %s differ in size" % (a, b))
        return
    n = sum(1 for i in range(0, len(ia[2]), 3) if ia[2][i:i + 3] != ib[2][i:i + 3])
    if n == 0:
        fail("%s and %s are identical: the screen did not change" % (a, b))
    print("%s -> %s: %d pixels changed" % (a, b, n))


def to_png(src, dst):
    w, h, px = read_ppm(src)
    raw = b"".join(b"\0" + px[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(dst, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd, args = argv[1], argv[2:]
    if cmd == "hmp" and len(args) >= 2:
        for line in hmp(args[0], args[1:]):
            print(line)
    elif cmd == "pointer" and len(args) in (5, 6):
        x, y, w, h = (int(a) for a in args[1:5])
        pointer(args[0], x, y, w, h, int(args[5]) if len(args) == 6 else 0)
    elif cmd == "check" and len(args) == 1:
        check(args[0])
    elif cmd == "differ" and len(args) == 2:
        differ(args[0], args[1])
    elif cmd == "pixel" and len(args) == 3:
        print(*pixel(read_ppm(args[0]), int(args[1]), int(args[2])))
    elif cmd == "png" and len(args) == 2:
        to_png(args[0], args[1])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
