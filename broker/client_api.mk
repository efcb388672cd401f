# The client API (HTTPS + JSON), its TLS identity, one-time tickets and login
# rate limits. Included at the end of Makefile.am.

db_libdb_a_SOURCES += db/ticket.c db/ticket.h

broker_libbroker_a_SOURCES += \
	broker/client_api.c broker/client_api.h \
	broker/ratelimit.c broker/ratelimit.h \
	broker/ticket.c broker/ticket.h \
	broker/tls.c broker/tls.h
BROKER_CFLAGS += $(GNUTLS_CFLAGS) $(NETTLE_CFLAGS)
BROKER_LIBS += $(GNUTLS_LIBS) $(NETTLE_LIBS)

check_PROGRAMS += tests/unit/test_ticket
tests_unit_test_ticket_SOURCES = tests/unit/test_ticket.c tests/unit/rawdb.c tests/unit/rawdb.h
tests_unit_test_ticket_CFLAGS = $(TEST_CFLAGS) $(BROKER_CFLAGS) $(SQLITE_CFLAGS) $(VNCSERVER_CFLAGS)
tests_unit_test_ticket_LDADD = $(BROKER_LIBS) $(VNCSERVER_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_ratelimit
tests_unit_test_ratelimit_SOURCES = tests/unit/test_ratelimit.c
tests_unit_test_ratelimit_CFLAGS = $(TEST_CFLAGS) $(BROKER_CFLAGS)
tests_unit_test_ratelimit_LDADD = $(BROKER_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_tls
tests_unit_test_tls_SOURCES = tests/unit/test_tls.c tests/unit/rawdb.c tests/unit/rawdb.h
tests_unit_test_tls_CFLAGS = $(TEST_CFLAGS) $(BROKER_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_tls_LDADD = $(BROKER_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/unit/test_client_api
tests_unit_test_client_api_SOURCES = tests/unit/test_client_api.c tests/unit/rawdb.c tests/unit/rawdb.h
tests_unit_test_client_api_CFLAGS = $(TEST_CFLAGS) $(BROKER_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_client_api_LDADD = $(BROKER_LIBS) $(CMOCKA_LIBS)

EXTRA_DIST += broker/client_api.mk
