"""Issue 16's regression tests, one or more per item, all on 127.0.0.1 and bounded in time.

Items 1-2 (gRPC-Web slow, idle and oversize clients): test_web_slow_clients.py; 3, 4, 6, 8
(shutdown status, CORS and no server header, probes outside the limit, status size):
test_defaults_and_limits.py; 5 and 9 (ports shared only when asked, a drain health checks
see): test_ports.py; 7 (loopback by default, the real bind address printed): test_bind.py.
Items 10-12 (code generation) are in tests/codegen/test_names.py.
"""
