"""A requests.Session that sends every https://HOST/... request to the local identity server
over plain HTTP with X-Forwarded-Host: HOST, as DNS and TLS would deliver it (the Swift tests'
RoutingTransport does the same for MSALLite), so MSAL Python can be run against Entra's host
names. Azure Cloud Shell's fixed token endpoint goes to the server's Cloud Shell stand-in."""
import urllib.parse

import requests


class RoutingSession(requests.Session):
    def __init__(self, port):
        super().__init__()
        self.port = port

    # Azure Cloud Shell's token endpoint, fixed on the platform, is the server's stand-in.
    CLOUD_SHELL = "http://localhost:50342/oauth2/token"

    def request(self, method, url, *args, **kwargs):
        if url == self.CLOUD_SHELL:
            url = f"http://127.0.0.1:{self.port}/cloudshell/oauth2/token"
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            headers = dict(kwargs.pop("headers", None) or {})
            headers["X-Forwarded-Host"] = parts.netloc
            kwargs["headers"] = headers
            url = urllib.parse.urlunsplit(("http", f"127.0.0.1:{self.port}", parts.path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)
