"""MSAL Python on a tokencache-encrypted file, through python/tokencache_encrypted.py and
msal-extensions' PersistedTokenCache.

Usage (the passphrase comes from $TOKENCACHE_TEST_PASSPHRASE; with
$TOKENCACHE_TEST_KEY=kernel the key is a data key in the kernel keyring instead):
  encrypted_peer.py write CACHE WRITER COUNT NOW     add COUNT sign-ins of distinct users
  encrypted_peer.py accounts CACHE                   the home account ids in the cache
  encrypted_peer.py decrypt FILE (passphrase|key)    print the plaintext of a test vector
  encrypted_peer.py keydigest CACHE                  SHA-256 of the cache's kernel key, or "none"
  encrypted_peer.py makekey CACHE                    the same, making the key when there is none
  encrypted_peer.py warmcheck CACHE                  "ok" when the key of CACHE is derived as the
                                                     persistence is made (never in load(), under the
                                                     lock) and a header asking for a huge scrypt is refused
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
sys.path.insert(0, os.path.dirname(__file__))

import msal  # noqa: E402
import tokencache_encrypted  # noqa: E402
from msal_extensions import PersistedTokenCache  # noqa: E402
from msal_extensions.persistence import PersistenceDecryptionError  # noqa: E402
from tokencache_encrypted import EncryptedFilePersistence, _KernelKeyring  # noqa: E402
from persisted_peer import sign_in_event  # noqa: E402


def persistence(path):
    if os.environ.get("TOKENCACHE_TEST_KEY") == "kernel":
        return EncryptedFilePersistence(path, kernel_keyring=True)
    return EncryptedFilePersistence(path, passphrase_env="TOKENCACHE_TEST_PASSPHRASE")


def main():
    command = sys.argv[1]
    if command == "write":
        path, writer, count, now = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        cache = PersistedTokenCache(persistence(path))
        for index in range(count):
            cache.add(sign_in_event("ep%s-%d" % (writer, index)), now=now)
    elif command == "accounts":
        cache = msal.SerializableTokenCache()
        cache.deserialize(persistence(sys.argv[2]).load())
        print(json.dumps(sorted(a["home_account_id"] for a in cache.search(msal.TokenCache.CredentialType.ACCOUNT))))
    elif command == "decrypt":
        path, kind = sys.argv[2], sys.argv[3]
        if kind == "key":
            reader = EncryptedFilePersistence(path, key=bytes(range(32)))
        else:
            reader = EncryptedFilePersistence(path, passphrase="correct horse battery staple")
        sys.stdout.write(reader.load())
    elif command in ("keydigest", "makekey"):
        key = _KernelKeyring(os.path.expanduser(sys.argv[2])).key(command == "makekey")
        print(hashlib.sha256(key).hexdigest() if key else "none")
    elif command == "warmcheck":
        path = sys.argv[2]
        made = persistence(path)
        derive = tokencache_encrypted.Scrypt

        def refused(*args, **kwargs):
            raise AssertionError("scrypt ran inside load()")
        tokencache_encrypted.Scrypt = refused
        made.load()
        tokencache_encrypted.Scrypt = derive
        with open(path, "rb") as handle:
            original = bytes(handle.read())
        # log2(N) = 40 (a terabyte of memory); an unknown derivation naming log2(N) = 22.
        for (offset, values, word) in ((7, [40], "scrypt"), (6, [2, 22], "derivation")):
            hostile = bytearray(original)
            hostile[offset:offset + len(values)] = bytes(values)
            with open(path + ".hostile", "wb") as handle:
                handle.write(hostile)
            try:
                persistence(path + ".hostile").load()
                raise SystemExit("a header with %r at %d was accepted" % (values, offset))
            except PersistenceDecryptionError as error:
                assert word in str(error), str(error)
        print("ok")
    else:
        raise SystemExit("unknown command " + command)


if __name__ == "__main__":
    main()
