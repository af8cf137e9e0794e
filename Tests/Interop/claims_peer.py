"""MSAL Python with client_capabilities=["cp1"] against the local identity server: the
flows ClaimsTests runs in MSALLite, in the same order, so that the server's request log
shows the claims parameter each library sends.

Usage: python claims_peer.py BASE_URL TENANT CLAIMS_CHALLENGE CA_FILE

BASE_URL is the identity server over TLS (MSAL Python insists on https), CA_FILE the
certificate it trusts for it. Prints "ok", or the errors; never a token.
"""
import os
import sys
import urllib.parse

import msal

SCOPES = ["https://graph.example/User.Read"]


def main():
    base, tenant, challenge, ca = sys.argv[1:5]
    # requests prefers these to the session's own verify setting.
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CURL_CA_BUNDLE"] = ca
    # No user realm discovery before a password sign-in: the local server has none.
    msal.authority.Authority._domains_without_user_realm_discovery.add(urllib.parse.urlsplit(base).hostname)
    common = dict(verify=ca, instance_discovery=False, client_capabilities=["cp1"])
    user = msal.PublicClientApplication("cli-app", authority=f"{base}/organizations", **common)
    results = [
        user.acquire_token_by_username_password("ann@contoso.example", "pw-ann-1", scopes=SCOPES),
        user.acquire_token_by_username_password("ann@contoso.example", "pw-ann-1", scopes=SCOPES, claims_challenge=challenge),
    ]
    account = user.get_accounts()[0]
    results.append(user.acquire_token_silent(SCOPES, account, claims_challenge=challenge) or {})
    daemon = msal.ConfidentialClientApplication("daemon", client_credential="daemon-secret-value", authority=f"{base}/{tenant}", **common)
    results.append(daemon.acquire_token_for_client(["https://graph.example/.default"]))
    results.append(daemon.acquire_token_for_client(["https://graph.example/.default"], claims_challenge=challenge))
    errors = [r.get("error", "no token") for r in results if "access_token" not in r]
    print("ok" if not errors else "errors: %s" % errors)


if __name__ == "__main__":
    main()
