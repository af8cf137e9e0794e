"""An MSAL Python app that asks for a token silently from a cache file it shares through
msal-extensions, as azure-cli or an azure-identity app does, for the shared-refresh tests.

Usage: silent_peer.py CACHE BASE_URL CA_FILE CLIENT_ID SCOPE [START_AT]

BASE_URL is the identity server over TLS (MSAL Python insists on https) and CA_FILE the
certificate it trusts for it; the authority is BASE_URL/organizations. With START_AT (Unix
seconds, fractional), it waits until then, so that many peers ask at the same moment.
Prints one JSON line: {"ok": true, "source": "cache" | "identity_provider"} or {"ok":
false, "error": ..., "suberror": ...}; never a token. Exit 0 when it got a token, 3 when not.
"""
import json
import os
import sys
import time

import msal
from msal_extensions import FilePersistence, PersistedTokenCache


def main():
    cache_path, base_url, ca_file, client_id, scope = sys.argv[1:6]
    # requests lets these variables override a session's own `verify`.
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = ca_file
    cache = PersistedTokenCache(FilePersistence(cache_path))
    app = msal.PublicClientApplication(client_id, authority=f"{base_url}/organizations", token_cache=cache,
                                       verify=ca_file, instance_discovery=False)
    accounts = app.get_accounts()
    if len(sys.argv) > 6:
        time.sleep(max(0.0, float(sys.argv[6]) - time.time()))
    result = app.acquire_token_silent_with_error([scope], accounts[0]) if accounts else None
    if result and "access_token" in result:
        print(json.dumps({"ok": True, "source": result.get("token_source")}), flush=True)
        return 0
    result = result or {"error": "no_account"}
    print(json.dumps({"ok": False, "error": result.get("error"), "suberror": result.get("suberror")}), flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main())
