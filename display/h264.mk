# The H.264 encoder (openh264) for RDP's AVC420, its unit test and its
# benchmark. Included at the end of Makefile.am.
display_libdisplay_a_SOURCES += display/h264_enc.c display/h264_enc.h
display_libdisplay_a_CFLAGS += $(OPENH264_CFLAGS)
DISPLAY_LIBS += $(OPENH264_LIBS)

check_PROGRAMS += tests/unit/test_h264_enc
tests_unit_test_h264_enc_SOURCES = tests/unit/test_h264_enc.c
tests_unit_test_h264_enc_CFLAGS = $(TEST_CFLAGS) $(GLIB_CFLAGS) $(OPENH264_CFLAGS)
tests_unit_test_h264_enc_LDADD = $(DISPLAY_LIBS) $(CMOCKA_LIBS) -lm

# `make bench` runs bench_encode too: 1080p encoding time, size and quality
# for typing, scrolling and full-screen motion.
EXTRA_PROGRAMS += tests/bench/bench_encode
tests_bench_bench_encode_SOURCES = tests/bench/bench_encode.c
tests_bench_bench_encode_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(OPENH264_CFLAGS) $(FREERDP_SERVER_CFLAGS)
tests_bench_bench_encode_LDADD = $(DISPLAY_LIBS) -lm
bench-encode: tests/bench/bench_encode$(EXEEXT)
	tests/bench/bench_encode$(EXEEXT)
bench: bench-encode
.PHONY: bench-encode

EXTRA_DIST += display/h264.mk
