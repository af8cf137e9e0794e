"""Runs cache scenarios through the real MSAL Python so the Swift tests can compare.

Usage: python msal_oracle.py SCENARIO.json RESULT.json

SCENARIO is {"caches": [{"ops": [...]}, ...]}. Each cache starts empty (or from the file
named by "initial") and runs its ops in order:

  {"op": "add", "event": {...}, "now": N}      TokenCache.add(event, now=N); the event's
                                                "request_scope" becomes "scope" as msal's
                                                oauth2 layer does it
  {"op": "serialize"}                           -> the serialized text
  {"op": "reload"}                              deserialize(serialize()) into a fresh cache
  {"op": "lookup", "client_id", "authority", "scopes", "home_account_id" (null = app),
        "now", "data"}                          -> {"result": hit|refresh_due|miss, "secret"}
  {"op": "refresh_candidates", "client_id", "authority", "scopes", "home_account_id", "now"}
                                                -> the refresh-token secrets tried, in order
  {"op": "accounts", "client_id", "authority"} -> get_accounts() home account ids, in order
  {"op": "remove_account", "client_id", "authority", "home_account_id", "now"}

Lookups use a real PublicClientApplication / ConfidentialClientApplication with an HTTP
stub that serves OIDC discovery and answers every token request with invalid_grant, so the
decision of what to take from the cache is MSAL's own. Nothing here reaches the network.
"""
import json
import sys
import time

import msal

_clock = [0]


def _use_scenario_clock():
    """Makes MSAL read the time from the scenario (only when run as the oracle, not when
    another script imports this module for its HTTP stub)."""
    time.time = lambda: float(_clock[0])


class _Response:
    def __init__(self, status, body):
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {}

    def raise_for_status(self):
        if self.status_code >= 400:
            raise RuntimeError("HTTP %d" % self.status_code)


class StubHttp:
    """Serves OIDC discovery for any authority; refuses every token request."""

    def __init__(self):
        self.refresh_tokens_tried = []
        self.posts = 0

    def get(self, url, params=None, headers=None, **kwargs):
        base = url.split("/v2.0/.well-known/")[0].split("/.well-known/")[0]
        return _Response(200, {
            "authorization_endpoint": base + "/oauth2/v2.0/authorize",
            "token_endpoint": base + "/oauth2/v2.0/token",
            "issuer": base + "/v2.0",
        })

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        self.posts += 1
        if data and data.get("grant_type") == "refresh_token":
            self.refresh_tokens_tried.append(data.get("refresh_token"))
        return _Response(400, {"error": "invalid_grant", "error_description": "stub refuses"})

    def close(self):
        pass


def _app(cache, op, http):
    common = dict(authority=op["authority"], token_cache=cache, http_client=http,
                  instance_discovery=False, validate_authority=False)
    if op.get("home_account_id") is None:
        return msal.ConfidentialClientApplication(op["client_id"], client_credential="stub-secret", **common)
    return msal.PublicClientApplication(op["client_id"], **common)


def _account(cache, op):
    return {"home_account_id": op["home_account_id"], "environment": op["environment"]}


def run_op(state, op):
    kind = op["op"]
    if kind == "add":
        event = dict(op["event"])
        # What msal.oauth2cli's _obtain_token puts in the event: the response's scope
        # string split on white space when there is one, else the requested scopes.
        response = event["response"]
        event["scope"] = response["scope"].split() if "scope" in response else event.pop("request_scope")
        event.pop("request_scope", None)
        state["cache"].add(event, now=op["now"])
        return None
    if kind == "serialize":
        return state["cache"].serialize()
    if kind == "reload":
        fresh = msal.SerializableTokenCache()
        fresh.deserialize(state["cache"].serialize())
        state["cache"] = fresh
        return None
    _clock[0] = op.get("now", 0)
    http = StubHttp()
    app = _app(state["cache"], op, http)
    if kind == "lookup":
        data = op.get("data") or {}
        if op.get("home_account_id") is None:
            result = app.acquire_token_for_client(op["scopes"], fmi_path=data.get("fmi_path"))
        else:
            kwargs = {"data": data} if data else {}
            result = app.acquire_token_silent_with_error(op["scopes"], _account(state["cache"], op), **kwargs)
        if result and "access_token" in result:
            # MSAL returns an aging token (refresh_on passed) as the fallback of a failed
            # refresh, or directly when there is no refresh token to try.
            aging = result.get("refresh_on") is not None and result["refresh_on"] < op["now"]
            decision = "refresh_due" if aging else "hit"
            return {"result": decision, "secret": result["access_token"]}
        return {"result": "miss", "secret": None}
    if kind == "refresh_candidates":
        app.acquire_token_silent_with_error(op["scopes"], _account(state["cache"], op), force_refresh=True)
        seen, ordered = set(), []
        for secret in http.refresh_tokens_tried:
            if secret not in seen:
                seen.add(secret)
                ordered.append(secret)
        return ordered
    if kind == "accounts":
        return [a["home_account_id"] for a in app.get_accounts()]
    if kind == "remove_account":
        accounts = [a for a in app.get_accounts() if a["home_account_id"] == op["home_account_id"]]
        target = accounts[0] if accounts else _account(state["cache"], op)
        app.remove_account(target)
        return None
    raise ValueError("unknown op " + kind)


def main():
    _use_scenario_clock()
    with open(sys.argv[1], encoding="utf-8") as handle:
        scenario = json.load(handle)
    results = []
    for spec in scenario["caches"]:
        state = {"cache": msal.SerializableTokenCache()}
        if spec.get("initial"):
            with open(spec["initial"], encoding="utf-8") as handle:
                state["cache"].deserialize(handle.read())
        results.append([run_op(state, op) for op in spec["ops"]])
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump({"msal_version": msal.__version__, "results": results}, handle)


if __name__ == "__main__":
    main()
