"""The Quart-Trio front end: routes turn HTTP, SSE and WebSocket requests into actor messages."""
