"""MSAL Python's authority validation, regional token service and client headers against
the identity server answering as Entra's hosts (routing_session.RoutingSession), for
AuthorityOptionsTests to compare with MSALLite.

Usage:
  python authority_peer.py PORT validate AUTHORITY
      prints {"error": ...} when MSAL Python refuses the authority, else {"ok": true}
  python authority_peer.py PORT client AUTHORITY CLIENT_ID SECRET SCOPE REGION APP_NAME APP_VERSION
      asks twice for the app's token (REGION "-" for none); prints the token sources and the
      cache with secrets and times replaced by "*"
  python authority_peer.py PORT oidc OIDC_AUTHORITY CLIENT_ID USERNAME PASSWORD SCOPE
      signs the user in with a password through oidc_authority, then asks silently; prints
      the same
"""
import json
import sys

import msal

from peer_cache import masked_entries
from routing_session import RoutingSession

def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    session = RoutingSession(port)
    if mode == "validate":
        try:
            msal.PublicClientApplication("validation-probe", authority=sys.argv[3], http_client=session)
        except ValueError as error:
            print(json.dumps({"error": str(error).split(":")[0]}))
            return
        print(json.dumps({"ok": True}))
        return
    cache = msal.SerializableTokenCache()
    sources = []
    if mode == "oidc":
        authority, client_id, username, password, scope = sys.argv[3:8]
        app = msal.PublicClientApplication(client_id, oidc_authority=authority, http_client=session, token_cache=cache)
        signed_in = app.acquire_token_by_username_password(username, password, [scope])
        accounts = app.get_accounts()
        silent = app.acquire_token_silent_with_error([scope], accounts[0]) if accounts else {"error": "no_account"}
        sources = [r.get("token_source") or "error:" + str(r.get("error")) for r in (signed_in, silent or {"error": "no_token"})]
    else:
        authority, client_id, secret, scope, region, app_name, app_version = sys.argv[3:10]
        app = msal.ConfidentialClientApplication(
            client_id, client_credential=secret, authority=authority, http_client=session, token_cache=cache,
            azure_region=None if region == "-" else region, app_name=app_name, app_version=app_version)
        for _ in range(2):
            result = app.acquire_token_for_client([scope])
            sources.append(result.get("token_source") or "error:" + str(result.get("error")))
    entries = masked_entries(cache)
    print(json.dumps({"sources": sources, "cache": entries}, sort_keys=True))


if __name__ == "__main__":
    main()
