"""Probe engine: checks MCP servers and agent backends over HTTP the way a real client would."""
