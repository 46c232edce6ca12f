"""The `h2` transport: our own thin HTTP/2 server running the ASGI app, one module per
concern (listening, one connection's framing, its streams).

It knows ASGI, not Cello's protocols: it imports nothing from `cello._protocols`.
"""
