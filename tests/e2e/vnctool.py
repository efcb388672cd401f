#!/usr/bin/env python3
"""vnctool.py: helpers for the VNC end-to-end tests.

  vnctool.py capture HOST PORT PASSWORD OUT.png
        run gvnccapture (gtk-vnc's real viewer library) against HOST:PORT,
        answering its password prompt on a pseudo-terminal (it reads the
        password from the terminal, as a user would type it); exit status is
        gvnccapture's
  vnctool.py diff A B [BOX]
        compare two pictures (PNG or PPM, same size) and print the share of
        pixels that differ by more than 24 in any channel, in percent; BOX
        "x0,y0,x1,y1" limits the comparison to that area
  vnctool.py garbage HOST PORT
        open a TCP connection, send bytes that are no protocol at all, and
        print what came back before the server closed it
  vnctool.py xwd IN.xwd OUT.png
        convert an X window dump (xwd, ZPixmap, 24/32 bpp TrueColor) to PNG
  vnctool.py api METHOD URL [JSON] [TOKEN]
        call the client API (self-signed certificate accepted), print the
        status line and the body
"""
import os
import pty
import select
import socket
import ssl
import termios
import sys
import time
import urllib.request

from PIL import Image


def fail(msg):
    print("vnctool: " + msg, file=sys.stderr)
    sys.exit(2)


def capture(host, port, password, out, timeout=60):
    # gvnccapture takes HOST:DISPLAY, the port less 5900.
    if int(port) < 5900:
        fail("gvnccapture cannot reach port %s (below 5900)" % port)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("gvnccapture", ["gvnccapture", "%s:%d" % (host, int(port) - 5900), out])
    buf = b""
    sent = False
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            if not sent and b"Password:" in buf:
                # It turns echo off (flushing pending input) around its
                # prompt: answer only once it has, or the answer is lost.
                for _ in range(100):
                    if not termios.tcgetattr(fd)[3] & termios.ECHO:
                        break
                    time.sleep(0.01)
                time.sleep(0.05)
                os.write(fd, password.encode() + b"\n")
                sent = True
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        sys.stdout.write(buf.decode(errors="replace"))
        fail("gvnccapture did not finish within %d s" % timeout)
    if not done:
        _, status = os.waitpid(pid, 0)
    sys.stdout.write(buf.decode(errors="replace").replace("\r", ""))
    return os.waitstatus_to_exitcode(status)


def diff(a, b, box=None):
    ia = Image.open(a).convert("RGB")
    ib = Image.open(b).convert("RGB")
    if ia.size != ib.size:
        print("sizes differ: %dx%d and %dx%d" % (ia.size + ib.size))
        return 100.0
    if box:
        x0, y0, x1, y1 = (int(v) for v in box.split(","))
        ia = ia.crop((x0, y0, x1, y1))
        ib = ib.crop((x0, y0, x1, y1))
    pa, pb = ia.load(), ib.load()
    w, h = ia.size
    bad = 0
    for y in range(h):
        for x in range(w):
            ca, cb = pa[x, y], pb[x, y]
            if max(abs(ca[0] - cb[0]), abs(ca[1] - cb[1]), abs(ca[2] - cb[2])) > 24:
                bad += 1
    return 100.0 * bad / (w * h)


def xwd(src, out):
    import struct
    data = open(src, "rb").read()
    hdr = struct.unpack(">25I", data[:100])
    header_size, _, fmt, depth, width, height = hdr[0:6]
    byte_order, bpp, bpl = hdr[7], hdr[11], hdr[12]
    red_mask, green_mask, blue_mask = hdr[14:17]
    ncolors = hdr[19]
    if fmt != 2 or bpp != 32:
        fail("xwd: only 32 bpp ZPixmap dumps are handled (format %d, %d bpp)" % (fmt, bpp))
    off = header_size + ncolors * 12
    order = "<" if byte_order == 0 else ">"

    def shift(mask):
        n = 0
        while mask and not mask & 1:
            mask >>= 1
            n += 1
        return n
    rs, gs, bs = shift(red_mask), shift(green_mask), shift(blue_mask)
    img = Image.new("RGB", (width, height))
    px = img.load()
    for y in range(height):
        row = struct.unpack_from(order + "%dI" % width, data, off + y * bpl)
        for x, v in enumerate(row):
            px[x, y] = ((v & red_mask) >> rs, (v & green_mask) >> gs, (v & blue_mask) >> bs)
    img.save(out)


def garbage(host, port):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
    got = b""
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
            got += data
    except (socket.timeout, ConnectionResetError):
        pass
    print(repr(got[:64]))


def api(method, url, body=None, token=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, method=method, data=body.encode() if body else None)
    if body:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=200) as r:
            print(r.status)
            print(r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code)
        print(e.read().decode())


def main(argv):
    if len(argv) < 2:
        fail("usage: see the top of this file")
    cmd = argv[1]
    if cmd == "capture" and len(argv) == 6:
        sys.exit(capture(argv[2], argv[3], argv[4], argv[5]))
    if cmd == "diff" and len(argv) in (4, 5):
        print("%.2f" % diff(argv[2], argv[3], argv[4] if len(argv) == 5 else None))
        return
    if cmd == "xwd" and len(argv) == 4:
        xwd(argv[2], argv[3])
        return
    if cmd == "garbage" and len(argv) == 4:
        garbage(argv[2], argv[3])
        return
    if cmd == "api" and 4 <= len(argv) <= 6:
        api(argv[2], argv[3], argv[4] if len(argv) > 4 and argv[4] else None,
            argv[5] if len(argv) > 5 else None)
        return
    fail("usage: see the top of this file")


if __name__ == "__main__":
    main(sys.argv)
