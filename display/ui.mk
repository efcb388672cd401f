# The screens aula-session draws itself (login, progress, message), their
# font, their unit test, and ui_shot, which writes them to PNG files to look
# at: `make ui-shots` (into UI_SHOTS_DIR). Included at the end of Makefile.am.
display_libdisplay_a_SOURCES += display/ui.c display/ui.h display/font.c display/font.h

check_PROGRAMS += tests/unit/test_ui
tests_unit_test_ui_SOURCES = tests/unit/test_ui.c
tests_unit_test_ui_CFLAGS = $(TEST_CFLAGS) $(GLIB_CFLAGS)
tests_unit_test_ui_LDADD = $(DISPLAY_LIBS) $(CMOCKA_LIBS)

EXTRA_PROGRAMS += tests/tools/ui_shot
tests_tools_ui_shot_SOURCES = tests/tools/ui_shot.c
tests_tools_ui_shot_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_tools_ui_shot_LDADD = $(DISPLAY_LIBS)

UI_SHOTS_DIR = $${TMPDIR:-/tmp}/aula-ui-shots
ui-shots: tests/tools/ui_shot$(EXEEXT)
	$(MKDIR_P) $(UI_SHOTS_DIR) && tests/tools/ui_shot$(EXEEXT) $(UI_SHOTS_DIR)
.PHONY: ui-shots

EXTRA_DIST += display/ui.mk
