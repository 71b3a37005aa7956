"""Real MCP servers (official SDK) and misbehaving ASGI apps for probe tests, served on loopback."""
