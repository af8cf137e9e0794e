"""Opens a cache file with MSAL Python and reports what an app sees in it.

Usage: python msal_read.py CACHE_FILE CLIENT_ID AUTHORITY SCOPE [SCOPE ...]

Prints JSON: {"accounts": [home account ids], "tokens": {home account id: access token
or null}}, with the clock at the "now" given in $ORACLE_NOW (Unix seconds).
"""
import json
import os
import sys
import time

import msal

sys.path.insert(0, os.path.dirname(__file__))
from msal_oracle import StubHttp  # noqa: E402

NOW = float(os.environ.get("ORACLE_NOW", "0"))
time.time = lambda: NOW


def main():
    path, client_id, authority, scopes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    cache = msal.SerializableTokenCache()
    with open(path, encoding="utf-8") as handle:
        cache.deserialize(handle.read())
    app = msal.PublicClientApplication(client_id, authority=authority, token_cache=cache, http_client=StubHttp(),
                                       instance_discovery=False, validate_authority=False)
    accounts = app.get_accounts()
    tokens = {}
    for account in accounts:
        result = app.acquire_token_silent(scopes, account)
        tokens[account["home_account_id"]] = result.get("access_token") if result else None
    print(json.dumps({"accounts": [a["home_account_id"] for a in accounts], "tokens": tokens}))


if __name__ == "__main__":
    main()
