# aula-client's settings (tc_conf) and its side of the broker's client API
# (tc_api), with their unit tests. Included at the end of Makefile.am.
if ENABLE_THINCLIENT
thinclient_libthinclient_a_SOURCES += \
	thinclient/tc_conf.c thinclient/tc_conf.h \
	thinclient/tc_api.c thinclient/tc_api.h
thinclient_libthinclient_a_CFLAGS += $(SOUP_CFLAGS) $(JSON_CFLAGS)
THINCLIENT_LIBS += $(SOUP_LIBS) $(JSON_LIBS)

check_PROGRAMS += tests/unit/test_tc_conf
tests_unit_test_tc_conf_SOURCES = tests/unit/test_tc_conf.c
tests_unit_test_tc_conf_CFLAGS = $(TEST_CFLAGS) $(GLIB_CFLAGS)
tests_unit_test_tc_conf_LDADD = $(THINCLIENT_LIBS) $(CMOCKA_LIBS)

# Against the real client API, started in the test's own process.
check_PROGRAMS += tests/unit/test_tc_api
tests_unit_test_tc_api_SOURCES = tests/unit/test_tc_api.c tests/unit/rawdb.c tests/unit/rawdb.h
tests_unit_test_tc_api_CFLAGS = $(TEST_CFLAGS) $(BROKER_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_tc_api_LDADD = $(THINCLIENT_LIBS) $(BROKER_LIBS) $(CMOCKA_LIBS)

# aula-client: the VNC path for now (libvncclient, an SDL2 window).
bin_PROGRAMS += thinclient/aula-client
thinclient_aula_client_SOURCES = thinclient/client_main.c \
	thinclient/vnc_view.c thinclient/vnc_view.h \
	thinclient/sdl_view.c thinclient/sdl_view.h
thinclient_aula_client_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(VNCCLIENT_CFLAGS) $(SDL2_CFLAGS)
thinclient_aula_client_LDADD = $(THINCLIENT_LIBS) $(VNCCLIENT_LIBS) $(SDL2_LIBS)
dist_man_MANS += docs/aula-client.1

# TESTS and EXTRA_DIST take E2E_TESTS in as a whole (Makefile.am).
E2E_TESTS += tests/e2e/client_vnc.sh
endif

EXTRA_DIST += thinclient/thinclient.mk
