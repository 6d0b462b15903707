"""Webhooks at the edge: the HTTP transport with its target rules, and the wiring that runs the
registry and the delivery worker inside the app (`install_webhooks`)."""
from __future__ import annotations
