"""MSAL Python keeping its cache in the keyring with msal-extensions' LibsecretPersistence
(python3-gi and gir1.2-secret-1 from Debian), in the layouts the peers use.

Usage:
  keyring_peer.py write PROFILE SIGNAL WRITER COUNT NOW   add COUNT sign-ins of distinct users
  keyring_peer.py accounts PROFILE SIGNAL                 the home account ids in the item
PROFILE is msal-extensions (build_encrypted_persistence's defaults) or azure-identity.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import msal  # noqa: E402
from msal_extensions import PersistedTokenCache  # noqa: E402
from msal_extensions.persistence import LibsecretPersistence  # noqa: E402
from persisted_peer import sign_in_event  # noqa: E402


def persistence(profile, signal):
    # LibsecretPersistence's constructor runs a trial store/lookup/clear of one fixed test
    # item; processes starting at the same moment can clear each other's, so retry it.
    for attempt in range(10):
        try:
            if profile == "msal-extensions":
                return LibsecretPersistence(signal)
            if profile == "azure-identity":
                return LibsecretPersistence(signal, schema_name="msal.cache.nocae",
                                            attributes={"MsalClientID": "Microsoft.Developer.IdentityService"}, label="MSALCache")
            raise SystemExit("unknown profile " + profile)
        except RuntimeError:
            if attempt == 9:
                raise
            time.sleep(0.05 * (attempt + 1))


def main():
    command, profile, signal = sys.argv[1], sys.argv[2], sys.argv[3]
    if command == "write":
        writer, count, now = sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
        cache = PersistedTokenCache(persistence(profile, signal))
        for index in range(count):
            cache.add(sign_in_event("kp%s-%d" % (writer, index)), now=now)
    elif command == "accounts":
        cache = msal.SerializableTokenCache()
        cache.deserialize(persistence(profile, signal).load())
        print(json.dumps(sorted(a["home_account_id"] for a in cache.search(msal.TokenCache.CredentialType.ACCOUNT))))
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main()
