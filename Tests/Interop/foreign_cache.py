"""Writes an MSAL cache as another SDK would, and what MSAL Python makes of it.

Usage: python foreign_cache.py OUTPUT_FOLDER

Writes three files:
  foreign.json     a cache in MSAL .NET's style: 2-space indent, escaped slashes, raw
                   non-ASCII, .NET keys, fields and sections Python does not model, odd
                   numbers (floats, huge integers, -0, NaN, Infinity), repeated member names
  normalized.json  MSAL Python's deserialize() then serialize() of foreign.json
  updated.json     the same, plus one token response added through TokenCache.add()
"""
import os
import sys
import time

import msal

FOREIGN = r'''{
  "AccessToken": {
    "uid.utid-login.windows.net-accesstoken-app-utid-user.read": {
      "home_account_id": "uid.utid",
      "environment": "login.windows.net",
      "client_id": "app",
      "secret": "dotnet-at",
      "credential_type": "AccessToken",
      "target": "User.Read",
      "realm": "utid",
      "cached_at": "1700000000",
      "expires_on": 1700003600,
      "extended_expires_on": "1700007200",
      "ext_expires_on": "1700007200",
      "kid": "kid-1",
      "user_assertion_hash": "aGFzaA==",
      "token_type": "Bearer",
      "ext": {"nested": [1, 2.5, {"deep": null}], "empty": {}, "none": []}
    }
  },
  "RefreshToken": {
    "uid.utid-login.windows.net-refreshtoken-1--": {
      "home_account_id": "uid.utid",
      "environment": "login.windows.net",
      "client_id": "app",
      "secret": "dotnet-frt",
      "credential_type": "RefreshToken",
      "family_id": "1",
      "ext": {"a\/b": "c\/d", "q": "\"quoted\" \\ back\tslash"}
    }
  },
  "IdToken": {},
  "Account": {
    "uid.utid-login.windows.net-utid": {
      "home_account_id": "uid.utid",
      "environment": "login.windows.net",
      "realm": "utid",
      "local_account_id": "oid",
      "username": "Zoë 😀 Ωμέγα",
      "authority_type": "MSSTS",
      "wam_account_ids": ["w1", "w2"],
      "name": "Zoë",
      "client_info": "eyJ1aWQiOiJ1aWQiLCJ1dGlkIjoidXRpZCJ9"
    }
  },
  "AppMetadata": {
    "appmetadata-login.windows.net-app": {"environment": "login.windows.net", "client_id": "app", "family_id": ""},
    "AppMetadata-Login.Windows.Net-OLD": {"environment": "login.windows.net", "client_id": "OLD", "family_id": null}
  },
  "UnknownSection": {"numbers": [0, -0, 1.0, 1e16, 1E-5, 0.1, 100.0, 1e22, 12345678.9, 5e-324,
      1.7976931348623157e308, 0.30000000000000004, 123456789012345678901234567890, -17, 2.50,
      1E400, -1e400, NaN, Infinity, -Infinity, 3.0e2], "flags": [true, false, null],
      "dup": 1, "text": "\u00e9\u00E9\ud83d\ude00\u0001\u001f\u007f\u2028/", "dup": 2},
  "ZEmpty": {},
  "Scalars": "just a string"
}'''


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "foreign.json"), "w", encoding="utf-8") as handle:
        handle.write(FOREIGN)
    cache = msal.SerializableTokenCache()
    cache.deserialize(FOREIGN)
    with open(os.path.join(out, "normalized.json"), "w", encoding="utf-8") as handle:
        handle.write(cache.serialize())
    cache.add({
        "client_id": "app",
        "scope": ["User.Read"],
        "token_endpoint": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "environment": "login.microsoftonline.com",
        "grant_type": "authorization_code",
        "data": {},
        "response": {
            "access_token": "python-at", "refresh_token": "python-rt", "expires_in": 3600, "token_type": "Bearer",
            "client_info": "eyJ1aWQiOiJ1aWQiLCJ1dGlkIjoidXRpZCJ9",
        },
    }, now=1700000100)
    with open(os.path.join(out, "updated.json"), "w", encoding="utf-8") as handle:
        handle.write(cache.serialize())


if __name__ == "__main__":
    main()
