"""kb as an MCP server: the tools and resources (server.py) over a backend (backends.py:
the index in process, or a kb server over HTTP; http.py: the index ``kb serve`` serves),
with ``kb mcp`` (stdio) and ``/mcp`` (Streamable HTTP) as its two transports.

Nothing is imported here, so that ``kb mcp --url`` loads only what it uses.
"""
