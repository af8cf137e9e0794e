"""MSAL Python on the same cache files: the numbers Benchmarks/run.sh puts next to ours.

Usage: python msal_python_bench.py measure PATH USERS
       python msal_python_bench.py load-memory PATH
       python msal_python_bench.py persistent PATH USERS   msal-extensions on the same file
       python msal_python_bench.py silent PATH USERS   acquire_token_silent at the real clock,
                                                       in memory and through msal-extensions

Prints JSON. The silent lookup is msal's own acquire_token_silent() (a real
PublicClientApplication whose HTTP client only answers OIDC discovery), asking for a strict
subset of the stored scopes.
"""
import base64
import json
import os
import random
import resource
import sys
import time

import msal

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Interop"))
from msal_oracle import StubHttp  # noqa: E402

AUTHORITY = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
BASE_NOW = 1700000000


def uid(user):
    return "%08x-%04x-4%03x-8000-%012x" % (user, user & 0xFFFF, user & 0xFFF, user)


def timed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def measure(path, users):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    runs = 3 if users >= 10000 else 10
    cache = msal.SerializableTokenCache()
    deserialize = median([timed(lambda: cache.deserialize(text)) for _ in range(runs)])
    serialize = median([timed(cache.serialize) for _ in range(runs)])
    real_time = time.time
    app = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=cache, http_client=StubHttp(),
                                       instance_discovery=False)
    time.time = lambda: float(BASE_NOW + 60)
    lookups = []
    count = 20 if users >= 10000 else 200
    for _ in range(count):
        account = {"home_account_id": "%s.%s" % (uid(random.randrange(users)), TENANT),
                   "environment": "login.microsoftonline.com"}
        start = time.perf_counter()
        result = app.acquire_token_silent(["User.Read"], account)
        lookups.append(time.perf_counter() - start)
        assert result and "access_token" in result, "every lookup must hit"
    accounts = median([timed(app.get_accounts) for _ in range(3 if users >= 10000 else 20)])
    time.time = real_time
    print(json.dumps({"deserialize_s": deserialize, "serialize_s": serialize, "lookup_median_s": median(lookups),
                      "accounts_s": accounts}))


def load_memory(path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cache = msal.SerializableTokenCache()
    with open(path, encoding="utf-8") as handle:
        cache.deserialize(handle.read())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_bytes": peak - before, "file_bytes": os.path.getsize(path)}))


def persistent(path, users):
    from msal_extensions import FilePersistence, PersistedTokenCache
    cache = PersistedTokenCache(FilePersistence(path))
    other = PersistedTokenCache(FilePersistence(path))

    # MSAL Python's best case: the exact stored scopes, which its O(1) key lookup finds
    # (a strict subset of them makes it scan every access token).
    exact = ["User.Read", "Mail.Read", "Calendars.Read", "openid", "profile", "offline_access"]

    def first_hit():
        account = "%s.%s" % (uid(random.randrange(users)), TENANT)
        query = {"client_id": CLIENT_ID, "environment": "login.microsoftonline.com", "realm": TENANT, "home_account_id": account}
        return next(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=exact, query=query, now=BASE_NOW + 60), None)

    first_hit()
    hits = []
    for _ in range(2000):
        start = time.perf_counter()
        assert first_hit() is not None, "every lookup must hit"
        hits.append(time.perf_counter() - start)
    writes = []
    for round in range(3):
        event = {
            "client_id": CLIENT_ID, "scope": ["User.Read"], "token_endpoint": AUTHORITY + "/oauth2/v2.0/token",
            "environment": "login.microsoftonline.com", "grant_type": "authorization_code", "data": {},
            "response": {"token_type": "Bearer", "expires_in": 3599, "access_token": "x" * 1500, "refresh_token": "y" * 900,
                         "client_info": base64.urlsafe_b64encode(json.dumps({"uid": "py%d" % round, "utid": TENANT}).encode()).decode().rstrip("=")},
        }
        writes.append(timed(lambda: cache.add(event, now=BASE_NOW)))
    reloads = []
    for round in range(3):
        other.add({"client_id": "other-app", "scope": ["s%d" % round], "token_endpoint": AUTHORITY + "/oauth2/v2.0/token",
                   "environment": "login.microsoftonline.com", "data": {},
                   "response": {"access_token": "other-%d" % round, "expires_in": 3599}}, now=BASE_NOW)
        time.sleep(0.02)
        reloads.append(timed(first_hit))
    print(json.dumps({"hit_median_s": median(hits), "write_median_s": median(writes), "reload_median_s": median(reloads)}))


def first_lookup(path, users):
    """A new process's first silent lookup through msal-extensions: load, then search."""
    from msal_extensions import FilePersistence, PersistedTokenCache
    start = time.perf_counter()
    cache = PersistedTokenCache(FilePersistence(path))
    exact = ["User.Read", "Mail.Read", "Calendars.Read", "openid", "profile", "offline_access"]
    account = "%s.%s" % (uid(random.randrange(users)), TENANT)
    query = {"client_id": CLIENT_ID, "environment": "login.microsoftonline.com", "realm": TENANT, "home_account_id": account}
    found = next(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=exact, query=query, now=BASE_NOW + 60), None)
    assert found is not None, "the first lookup must hit"
    print(json.dumps({"first_lookup_s": time.perf_counter() - start}))


def silent(path, users):
    """acquire_token_silent() served from the cache (tokens cached at the current time), on
    a SerializableTokenCache in memory and on msal-extensions' PersistedTokenCache."""
    from msal_extensions import FilePersistence, PersistedTokenCache
    memory = msal.SerializableTokenCache()
    with open(path, encoding="utf-8") as handle:
        memory.deserialize(handle.read())
    figures = {}
    for name, cache in (("memory", memory), ("file", PersistedTokenCache(FilePersistence(path)))):
        app = msal.PublicClientApplication(CLIENT_ID, authority=AUTHORITY, token_cache=cache, http_client=StubHttp(),
                                           instance_discovery=False)
        calls = []
        for _ in range(20):
            account = {"home_account_id": "%s.%s" % (uid(random.randrange(users)), TENANT),
                       "environment": "login.microsoftonline.com"}
            start = time.perf_counter()
            result = app.acquire_token_silent(["User.Read"], account)
            calls.append(time.perf_counter() - start)
            assert result and result.get("token_source") == "cache", "every call must be served from the cache"
        figures[name + "_median_s"] = median(calls)
    print(json.dumps(figures))


if __name__ == "__main__":
    if sys.argv[1] == "silent":
        silent(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "first-lookup":
        first_lookup(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "persistent":
        persistent(sys.argv[2], int(sys.argv[3]))
    else:
        load_memory(sys.argv[2])
