#!/usr/bin/env python3
"""Prepares the web API benchmark.

  webapp_tokens.py sign-in IDP_AUTHORITY N OUT_FILE   signs N synthetic users in at the
      identity server (password grant, the API's scope) and writes their access tokens,
      one per line;
  webapp_tokens.py warm API_URL TOKENS_FILE           calls the API once per token, so
      that each user has an on-behalf-of token in the API's store.
"""
import concurrent.futures
import json
import sys
import urllib.parse
import urllib.request


def token(authority, index):
    form = urllib.parse.urlencode({"grant_type": "password", "client_id": "bench-cli", "username": f"user{index}@contoso.example",
                                   "password": f"pw-user{index}", "scope": "api://example-api/access_as_user"}).encode()
    with urllib.request.urlopen(authority + "/oauth2/v2.0/token", form, timeout=60) as answer:
        return json.load(answer)["access_token"]


def warm(api, access_token):
    request = urllib.request.Request(api + "/me", headers={"Authorization": "Bearer " + access_token})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.status


def main():
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        if sys.argv[1] == "sign-in":
            authority, count, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
            tokens = list(pool.map(lambda i: token(authority, i), range(count)))
            with open(out, "w") as file:
                file.write("\n".join(tokens) + "\n")
        else:
            api, tokens = sys.argv[2], [line for line in open(sys.argv[3]).read().split("\n") if line]
            statuses = list(pool.map(lambda t: warm(api, t), tokens))
            if any(status != 200 for status in statuses):
                sys.exit(f"warming the API failed for {sum(1 for s in statuses if s != 200)} users")


if __name__ == "__main__":
    main()
