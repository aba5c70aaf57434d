"""Python client for a hub's HTTP API."""

from corehub.client.http import DEFAULT_URL, AsyncClient, Client, HubUnreachable

__all__ = ["DEFAULT_URL", "AsyncClient", "Client", "HubUnreachable"]
