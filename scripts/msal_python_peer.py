"""The MSAL Python side of the demo: reads the cache file tokencache wrote, then adds a
sign-in of its own, as an azure-cli-style app sharing the file would.

Usage: python msal_python_peer.py CACHE_FILE CLIENT_ID AUTHORITY NOW
"""
import base64
import json
import sys
import time

import msal


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def main():
    path, client_id, authority, now = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    time.time = lambda: float(now)
    cache = msal.SerializableTokenCache()
    with open(path, encoding="utf-8") as handle:
        cache.deserialize(handle.read())
    accounts = [a for a in cache.search(msal.TokenCache.CredentialType.ACCOUNT)]
    print("MSAL Python %s reads %s: %d account(s): %s" % (
        msal.__version__, path, len(accounts), ", ".join(a["username"] for a in accounts)))
    at = next(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=["User.Read"],
                           query={"client_id": client_id, "home_account_id": accounts[0]["home_account_id"]}), None)
    print("MSAL Python finds the access token for User.Read:", "yes" if at else "no")
    cache.add({
        "client_id": client_id,
        "scope": ["User.Read", "openid", "profile", "offline_access"],
        "token_endpoint": authority + "/oauth2/v2.0/token",
        "environment": authority.split("/")[2],
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "response": {
            "token_type": "Bearer", "expires_in": 3600, "access_token": "demo-access-token-from-python",
            "refresh_token": "demo-refresh-token-from-python",
            "client_info": b64({"uid": "python-user", "utid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}),
            "id_token": "e30." + b64({"sub": "s", "oid": "python-user", "preferred_username": "grace@contoso.com"}) + ".",
        },
    }, now=now)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(cache.serialize())
    print("MSAL Python added grace@contoso.com and saved the file.")


if __name__ == "__main__":
    main()
