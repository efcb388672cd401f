# VNC benchmarks: vncmeter (a measuring viewer) and bench_vnc.sh, which runs it
# through aulad and straight against QEMU's own VNC server of the same VM.
# `make bench-vnc` needs root and libvirtd; without them it says why and skips.
EXTRA_PROGRAMS += tests/bench/vncmeter
tests_bench_vncmeter_SOURCES = tests/bench/vncmeter.c
tests_bench_vncmeter_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(VNCCLIENT_CFLAGS)
tests_bench_vncmeter_LDADD = $(GLIB_LIBS) $(VNCCLIENT_LIBS)
EXTRA_DIST += tests/bench/bench_vnc.sh

bench-vnc: tests/bench/vncmeter broker/aulad broker/aulactl display/aula-session
	@rc=0; top_builddir=$(abs_top_builddir) top_srcdir=$(abs_top_srcdir) \
		bash $(srcdir)/tests/bench/bench_vnc.sh || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "bench-vnc: skipped (the reason is above)"; \
	elif [ $$rc -ne 0 ]; then echo "bench-vnc: failed (exit $$rc)"; exit $$rc; fi
bench: bench-vnc
.PHONY: bench-vnc

# RDP benchmark: bench_rdp.sh, through aulad and next to FreeRDP's shadow
# server, which serves an Xvfb where xworkload draws the testguest's
# workloads. `make bench-rdp` needs root, libvirtd, xfreerdp and
# freerdp-shadow-cli; without them it says why and skips.
EXTRA_PROGRAMS += tests/bench/xworkload
tests_bench_xworkload_SOURCES = tests/bench/xworkload.c display/font.c display/font.h
tests_bench_xworkload_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_bench_xworkload_LDADD = $(GLIB_LIBS) -lX11 -lXext
EXTRA_DIST += tests/bench/bench_rdp.sh

bench-rdp: tests/bench/xworkload tests/bench/vncmeter broker/aulad broker/aulactl display/aula-session
	@rc=0; top_builddir=$(abs_top_builddir) top_srcdir=$(abs_top_srcdir) \
		bash $(srcdir)/tests/bench/bench_rdp.sh || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "bench-rdp: skipped (the reason is above)"; \
	elif [ $$rc -ne 0 ]; then echo "bench-rdp: failed (exit $$rc)"; exit $$rc; fi
bench: bench-rdp
.PHONY: bench-rdp
