"""Issue 16's regression tests, one or more per item, all on 127.0.0.1 and bounded in time.

Items 1-2 (gRPC-Web slow, idle and oversize clients): test_web_slow_clients.py; 3, 4, 6, 8
(shutdown status, CORS and no server header, probes outside the limit, status size):
test_defaults_and_limits.py; 5 and 9 (ports shared only when asked, a drain health checks
see): test_ports.py; 7 (loopback by default, the real bind address printed): test_bind.py.
Items 10-12 (code generation) are in tests/codegen/test_names.py.

Issue 24 section 2 (HTTP/2 attacks): the attacks and their scoring harness in attacks.py
(the server they hit in attack_server.py, the table in benchmarks/attacks.py), every
transport against every attack in test_attacks.py, one connection's share of the limit in
test_connection_share.py, the stall timeout in test_stream_idle.py.
"""
