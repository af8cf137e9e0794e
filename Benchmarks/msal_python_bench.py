"""MSAL Python on the same cache files: the numbers Benchmarks/run.sh puts next to ours.

Usage: python msal_python_bench.py measure PATH USERS
       python msal_python_bench.py load-memory PATH

Prints JSON. The silent lookup is msal's own acquire_token_silent() (a real
PublicClientApplication whose HTTP client only answers OIDC discovery), asking for a strict
subset of the stored scopes.
"""
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


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        measure(sys.argv[2], int(sys.argv[3]))
    else:
        load_memory(sys.argv[2])
