"""The web server: FastAPI routes, the duel WebSocket, and the built page."""

from local_duel.server.app import create_app

__all__ = ["create_app"]
