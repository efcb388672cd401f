# The H.264 encoder (openh264) for RDP's AVC420 and its unit test.
# Included at the end of Makefile.am.
display_libdisplay_a_SOURCES += display/h264_enc.c display/h264_enc.h
display_libdisplay_a_CFLAGS += $(OPENH264_CFLAGS)
DISPLAY_LIBS += $(OPENH264_LIBS)

check_PROGRAMS += tests/unit/test_h264_enc
tests_unit_test_h264_enc_SOURCES = tests/unit/test_h264_enc.c
tests_unit_test_h264_enc_CFLAGS = $(TEST_CFLAGS) $(GLIB_CFLAGS) $(OPENH264_CFLAGS)
tests_unit_test_h264_enc_LDADD = $(DISPLAY_LIBS) $(CMOCKA_LIBS) -lm

EXTRA_DIST += display/h264.mk
