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
  vnctool.py rdpfuzz HOST PORT COUNT SEED
        COUNT malformed RDP connections: X.224 connection requests with bytes
        flipped, then requests for TLS followed, inside TLS, by TPKT-framed
        MCS Connect Initial PDUs whose bodies are random or flipped; prints
        how each ended (each must simply be closed by the server)
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


# An X.224 Connection Request asking for TLS (MS-RDPBCGR 2.2.1.1): TPKT,
# X.224 CR, and an RDP Negotiation Request with PROTOCOL_SSL.
X224_TLS = bytes([0x03, 0x00, 0x00, 0x13, 0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,
                  0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00])


def rdpfuzz(host, port, count, seed):
    import random
    rnd = random.Random(seed)
    outcomes = {}
    for i in range(count):
        s = socket.create_connection((host, int(port)), timeout=5)
        try:
            if i % 2 == 0:
                # Before TLS: the connection request itself, bytes flipped.
                data = bytearray(X224_TLS)
                for _ in range(rnd.randint(1, 4)):
                    data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
                s.sendall(bytes(data))
                got = s.recv(4096)
                what = "pre-tls:%s" % ("answered" if got else "closed")
            else:
                s.sendall(X224_TLS)
                cc = s.recv(4096)
                if not cc:
                    outcomes["no-confirm"] = outcomes.get("no-confirm", 0) + 1
                    continue
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                t = ctx.wrap_socket(s, server_hostname=None)
                body = bytearray(rnd.getrandbits(8) for _ in range(rnd.randint(8, 400)))
                body[0:2] = b"\x7f\x65"  # BER tag of MCS Connect-Initial
                pdu = bytes([0x02, 0xf0, 0x80]) + bytes(body)
                t.sendall(bytes([0x03, 0x00, (len(pdu) + 4) >> 8, (len(pdu) + 4) & 0xff]) + pdu)
                try:
                    got = t.recv(4096)
                    what = "tls:%s" % ("answered" if got else "closed")
                except (ssl.SSLError, OSError):
                    what = "tls:closed"
        except (socket.timeout, TimeoutError):
            what = "timeout"
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            what = "reset"
        finally:
            s.close()
        outcomes[what] = outcomes.get(what, 0) + 1
    print(" ".join("%s=%d" % kv for kv in sorted(outcomes.items())))


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
    if cmd == "rdpfuzz" and len(argv) == 6:
        rdpfuzz(argv[2], argv[3], int(argv[4]), int(argv[5]))
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
