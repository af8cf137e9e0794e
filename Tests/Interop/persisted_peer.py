"""An MSAL Python app sharing a cache file through msal-extensions, for the persistence
tests. Whether msal-extensions locks with portalocker depends on whether it can import it
(the tests put it on PYTHONPATH for the portalocker runs).

Usage:
  persisted_peer.py lock-kind                           which CrossPlatLock msal-extensions uses
  persisted_peer.py write CACHE WRITER COUNT NOW        add COUNT sign-ins of distinct users
  persisted_peer.py read-loop CACHE SECONDS             read without the lock until SECONDS pass
  persisted_peer.py hold-lock CACHE SECONDS             hold the cache's lock, print "locked"
  persisted_peer.py accounts CACHE                      the home account ids in the cache
  persisted_peer.py rotate-rt CACHE HOME_ACCOUNT_ID SECRET   update_rt() of that account's RT
  persisted_peer.py check-states                        read paths on stdin, print each file's
                                                        account count (or "error: ...")
"""
import base64
import json
import sys
import time

import msal
from msal_extensions import FilePersistence, PersistedTokenCache
from msal_extensions import token_cache as extensions_token_cache

CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
ENDPOINT = "https://login.microsoftonline.com/common/oauth2/v2.0/token"


def b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def persisted(path):
    return PersistedTokenCache(FilePersistence(path))


def sign_in_event(user):
    return {
        "client_id": CLIENT_ID, "scope": ["User.Read", "openid", "profile", "offline_access"],
        "token_endpoint": ENDPOINT, "environment": "login.microsoftonline.com", "grant_type": "authorization_code",
        "data": {},
        "response": {
            "token_type": "Bearer", "expires_in": 3600, "access_token": "at-" + user, "refresh_token": "rt-" + user,
            "client_info": b64({"uid": user, "utid": "tenant"}),
            "id_token": "e30." + b64({"sub": user, "oid": user, "preferred_username": user + "@contoso.com"}) + ".",
        },
    }


def main():
    command = sys.argv[1]
    if command == "lock-kind":
        print(extensions_token_cache.CrossPlatLock.__module__)
    elif command == "write":
        path, writer, count, now = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        cache = persisted(path)
        for index in range(count):
            cache.add(sign_in_event("py%s-%d" % (writer, index)), now=now)
    elif command == "read-loop":
        path, seconds = sys.argv[2], float(sys.argv[3])
        cache = persisted(path)
        reads = failures = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))
                reads += 1
            except Exception as error:  # any failure to read counts
                failures += 1
                print("read failed: %s" % type(error).__name__, file=sys.stderr)
            time.sleep(0.005)
        print(json.dumps({"reads": reads, "failures": failures}))
    elif command == "hold-lock":
        path, seconds = sys.argv[2], float(sys.argv[3])
        with extensions_token_cache.CrossPlatLock(path + ".lockfile"):
            print("locked", flush=True)
            time.sleep(seconds)
    elif command == "accounts":
        cache = msal.SerializableTokenCache()
        with open(sys.argv[2], encoding="utf-8") as handle:
            cache.deserialize(handle.read())
        print(json.dumps(sorted(a["home_account_id"] for a in cache.search(msal.TokenCache.CredentialType.ACCOUNT))))
    elif command == "rotate-rt":
        path, home_account_id, secret = sys.argv[2], sys.argv[3], sys.argv[4]
        cache = persisted(path)
        for rt in list(cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN, query={"home_account_id": home_account_id})):
            cache.update_rt(rt, secret)
    elif command == "check-states":
        for line in sys.stdin:
            path = line.strip()
            try:
                cache = msal.SerializableTokenCache()
                with open(path, encoding="utf-8") as handle:
                    cache.deserialize(handle.read())
                print(len(list(cache.search(msal.TokenCache.CredentialType.ACCOUNT))), flush=True)
            except Exception as error:
                print("error: %s" % type(error).__name__, flush=True)
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main()
