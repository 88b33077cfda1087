"""kb's HTTP API: REST query routes, chat (JSON or SSE), OpenAI compatibility, operations.

``create_app`` (in ``app``) is the factory uvicorn runs; nothing loads at import time.
"""
