"""Runs the shared sign-in scenario with MSAL Python against the local identity server.

Usage: python msal_scenario.py SCENARIO_JSON CACHE_FILE BASE_URL CA_FILE

A client with "certificate": true signs with TOKENCACHE_SCENARIO_CERTS/key.pem, named by the
thumbprint of cert.pem there; "capabilities" gives clients their client_capabilities; a
managed_identity step asks the server's App Service stand-in (BASE_URL/msi/appservice).

BASE_URL is the identity server over TLS (MSAL Python insists on https); CA_FILE is the
certificate it trusts for it. The cache is read from CACHE_FILE when it exists and written
back after every step, as an app using msal-extensions would. Prints one JSON object per
line: {"step": i, "op": ..., "source": "cache" | "identity_provider" | null, "error": ...};
never a token.

With a scenario whose steps are only "silent", this answers whether MSAL Python can serve
them from a cache file another library wrote.
"""
import json
import os
import sys
import urllib.parse
import warnings

import msal
import requests

USERS = {"ann": ("ann@contoso.example", "pw-ann-1"), "bob": ("bob@contoso.example", "pw-bob-1")}


class Runner:
    def __init__(self, scenario, cache_path, base_url, ca_file):
        self.scenario = scenario
        self.cache_path = cache_path
        self.authority = f"{base_url}/{scenario['tenant']}"
        self.base_url = base_url
        self.ca_file = ca_file
        self.secrets = {c["client_id"]: c["secret"] for c in scenario.get("clients", []) if "secret" in c}
        self.certificates = {c["client_id"] for c in scenario.get("clients", []) if c.get("certificate")}
        self.capabilities = scenario.get("capabilities", {})
        self.cache = msal.SerializableTokenCache()
        if os.path.exists(cache_path):
            with open(cache_path, encoding="utf-8") as handle:
                self.cache.deserialize(handle.read())
        self.apps = {}

    def app(self, client_id):
        if client_id not in self.apps:
            common = dict(authority=self.authority, token_cache=self.cache, verify=self.ca_file, instance_discovery=False,
                          client_capabilities=self.capabilities.get(client_id))
            if client_id in self.certificates:
                self.apps[client_id] = msal.ConfidentialClientApplication(
                    client_id, client_credential=certificate_credential(), **common)
            elif client_id in self.secrets:
                self.apps[client_id] = msal.ConfidentialClientApplication(
                    client_id, client_credential=self.secrets[client_id], **common)
            else:
                self.apps[client_id] = msal.PublicClientApplication(client_id, **common)
        return self.apps[client_id]

    def account(self, client_id, user):
        accounts = self.app(client_id).get_accounts(username=USERS[user][0])
        return accounts[0] if accounts else None

    def save(self):
        if self.cache.has_state_changed:
            descriptor = os.open(self.cache_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(self.cache.serialize())
            self.cache.has_state_changed = False

    def run(self, step):
        op, client_id = step["op"], step["client"]
        app = self.app(client_id)
        if op == "password":
            username, password = USERS[step["user"]]
            return app.acquire_token_by_username_password(username, password, step["scopes"])
        if op == "silent":
            account = self.account(client_id, step["user"])
            if account is None:
                return {"error": "no_account"}
            return app.acquire_token_silent_with_error(
                step["scopes"], account, force_refresh=step.get("force_refresh", False),
                claims_challenge=step.get("claims_challenge")) or {"error": "no_token"}
        if op == "obo":
            assertion = self.app("parity-cli").acquire_token_silent(step["assertion_scopes"], self.account("parity-cli", step["user"]))
            return app.acquire_token_on_behalf_of(assertion["access_token"], step["scopes"])
        if op == "auth_code":
            flow = app.initiate_auth_code_flow(step["scopes"], redirect_uri="http://localhost/redirect",
                                               login_hint=USERS[step["user"]][0])
            answer = requests.get(flow["auth_uri"], allow_redirects=False, verify=self.ca_file, timeout=10)
            redirect = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["Location"]).query))
            return app.acquire_token_by_auth_code_flow(flow, redirect)
        if op == "client_credentials":
            return app.acquire_token_for_client(step["scopes"])
        if op == "managed_identity":
            os.environ.update({"IDENTITY_ENDPOINT": f"{self.base_url}/msi/appservice", "IDENTITY_HEADER": "identity-header-secret"})
            client = msal.ManagedIdentityClient(msal.UserAssignedManagedIdentity(client_id=client_id),
                                                http_client=requests.Session(), token_cache=self.cache)
            return client.acquire_token_for_client(resource=step["resource"])
        if op == "remove_account":
            account = self.account(client_id, step["user"])
            app.remove_account(account)
            return {}
        raise ValueError(f"unknown op {op}")


def certificate_credential():
    """The scenario's certificate credential: its key, named by its SHA-1 thumbprint."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    folder = os.environ["TOKENCACHE_SCENARIO_CERTS"]
    with open(os.path.join(folder, "cert.pem"), "rb") as handle:
        thumbprint = x509.load_pem_x509_certificate(handle.read()).fingerprint(hashes.SHA1()).hex()
    with open(os.path.join(folder, "key.pem"), encoding="utf-8") as handle:
        return {"private_key": handle.read(), "thumbprint": thumbprint}


def main():
    scenario_path, cache_path, base_url, ca_file = sys.argv[1:5]
    # MSAL Python recommends form_post for web apps; the scenario redeems a query redirect.
    warnings.filterwarnings("ignore", message="response_mode")
    # requests lets these variables override a session's own `verify`.
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = ca_file
    with open(scenario_path, encoding="utf-8") as handle:
        scenario = json.load(handle)
    # MSAL Python asks https://HOST/common/userrealm/ before a password sign-in, dropping
    # the authority's port; the local server has no user realm endpoint, as AD FS-less
    # hosts do not, so tell MSAL Python not to ask.
    msal.authority.Authority._domains_without_user_realm_discovery.add(urllib.parse.urlsplit(base_url).hostname)
    runner = Runner(scenario, cache_path, base_url, ca_file)
    for index, step in enumerate(scenario["steps"]):
        result = runner.run(step)
        runner.save()
        report = {"step": index, "op": step["op"], "source": result.get("token_source"), "error": result.get("error")}
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
