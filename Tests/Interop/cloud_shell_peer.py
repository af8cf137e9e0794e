"""MSAL Python in Azure Cloud Shell (AZUREPS_HOST_ENVIRONMENT set by the caller) against the
identity server's Cloud Shell stand-in, for CloudShellTests to compare with MSALLite.

Usage: python cloud_shell_peer.py PORT CLIENT_ID SCOPE
Signs in with acquire_token_interactive(prompt="none"), lists the accounts, asks silently;
prints the token sources, the accounts and the cache with secrets and times replaced by "*".
"""
import json
import sys

import msal

from peer_cache import masked_entries
from routing_session import RoutingSession

def main():
    port, client_id, scope = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cache = msal.SerializableTokenCache()
    app = msal.PublicClientApplication(client_id, authority="https://login.microsoftonline.com/organizations",
                                       http_client=RoutingSession(port), token_cache=cache)
    first = app.acquire_token_interactive([scope], prompt="none")
    accounts = app.get_accounts()
    second = app.acquire_token_silent_with_error([scope], accounts[0]) if accounts else {"error": "no_account"}
    entries = masked_entries(cache)
    print(json.dumps({
        "sources": [r.get("token_source") or "error:" + str(r.get("error")) for r in (first, second)],
        "accounts": [{k: a.get(k) for k in ("home_account_id", "username", "authority_type")} for a in accounts],
        "cache": entries}, sort_keys=True))


if __name__ == "__main__":
    main()
