"""MSAL Python's ManagedIdentityClient against the identity server's managed identity
stand-ins, for ManagedIdentityTests to compare requests and cache entries with MSALLite's.

Usage: python managed_identity_peer.py IDENTITY RESOURCE
  IDENTITY: system, client:ID, resource:ID or object:ID
The platform's variables (IDENTITY_ENDPOINT, MSI_ENDPOINT, AZURE_POD_IDENTITY_AUTHORITY_HOST,
...) come from the environment. Asks twice; prints one JSON object: the token source of
each answer (or the error), each error with its description, and the cache with secrets and
times replaced by "*".
"""
import json
import os
import sys

import msal
import msal.managed_identity
import requests

from peer_cache import masked_entries

def main():
    if os.environ.get("TOKENCACHE_TEST_ARC_FOLDER"):
        # Azure Arc's key folder, which MSAL Python fixes per platform, moved for the test.
        msal.managed_identity._supported_arc_platforms_and_their_prefixes["linux"] = os.environ["TOKENCACHE_TEST_ARC_FOLDER"]
    kind, _, value = sys.argv[1].partition(":")
    resource = sys.argv[2]
    identity = msal.SystemAssignedManagedIdentity() if kind == "system" else msal.UserAssignedManagedIdentity(
        **{{"client": "client_id", "resource": "resource_id", "object": "object_id"}[kind]: value})
    cache = msal.SerializableTokenCache()
    client = msal.ManagedIdentityClient(identity, http_client=requests.Session(), token_cache=cache)
    sources = []
    errors = []
    for _ in range(2):
        result = client.acquire_token_for_client(resource=resource)
        sources.append(result.get("token_source") or "error:" + str(result.get("error")))
        if "error" in result:
            errors.append([result.get("error"), result.get("error_description")])
    entries = masked_entries(cache)
    print(json.dumps({"sources": sources, "errors": errors, "cache": entries}, sort_keys=True))


if __name__ == "__main__":
    main()
