"""The encrypted token cache of the Swift tokencache library, for MSAL Python apps.

``EncryptedFilePersistence`` implements msal-extensions' persistence interface (save, load,
time_last_modified, get_location) for tokencache's AES-256-GCM envelope, so a Python app
and a Swift app can share one encrypted cache file:

    from msal_extensions import PersistedTokenCache
    from tokencache_encrypted import EncryptedFilePersistence

    persistence = EncryptedFilePersistence("~/.cache/tokens.bin", passphrase_env="TOKENCACHE_PASSPHRASE")
    app = msal.PublicClientApplication(client_id, token_cache=PersistedTokenCache(persistence))

PersistedTokenCache locks ``<path>.lockfile``, the same lock tokencache takes. Writes are
atomic (a 0600 temporary file renamed over the cache). Requires the ``cryptography``
package, which msal already depends on.

Envelope (version 1, big-endian): b"TKCE", version 1, key source (2 passphrase, 3 key file),
key derivation (1 scrypt, 0 none), log2(N), r (4 bytes), p (4 bytes), salt length, salt,
8-byte key check = SHA-256(b"tokencache key check v1" + key)[:8], 12-byte nonce, then the
AES-256-GCM ciphertext and tag, with everything before the ciphertext as associated data.
"""
import hashlib
import os
import struct
import tempfile

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from msal_extensions.persistence import (
    BasePersistence, PersistenceDecryptionError, PersistenceEncryptionError, PersistenceNotFound)

MAGIC = b"TKCE"
VERSION = 1
SOURCE_PASSPHRASE = 2
SOURCE_KEY_FILE = 3
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1


def _key_check(key):
    return hashlib.sha256(b"tokencache key check v1" + key).digest()[:8]


def _read_private(path, what):
    info = os.lstat(path)
    if (info.st_mode & 0o077) or info.st_uid != os.geteuid():
        raise PersistenceDecryptionError("%s %s must be readable only by you (chmod 600)" % (what, path))
    with open(path, "rb") as handle:
        return handle.read(4097)


class EncryptedFilePersistence(BasePersistence):
    """A tokencache-encrypted MSAL cache file. Give exactly one of passphrase,
    passphrase_env, passphrase_file, key (32 bytes) or key_file."""
    is_encrypted = True

    def __init__(self, location, passphrase=None, passphrase_env=None, passphrase_file=None, key=None, key_file=None):
        given = [x is not None for x in (passphrase, passphrase_env, passphrase_file, key, key_file)]
        if sum(given) != 1:
            raise ValueError("give exactly one of passphrase, passphrase_env, passphrase_file, key, key_file")
        self._location = os.path.expanduser(location)
        self._passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        self._passphrase_env = passphrase_env
        self._passphrase_file = passphrase_file
        self._key = key
        self._key_file = key_file
        self._derived = {}  # salt -> key

    @property
    def _source(self):
        return SOURCE_KEY_FILE if (self._key is not None or self._key_file is not None) else SOURCE_PASSPHRASE

    def _passphrase_bytes(self):
        if self._passphrase is not None:
            return self._passphrase
        if self._passphrase_env is not None:
            value = os.environ.get(self._passphrase_env)
            if not value:
                raise PersistenceDecryptionError("the passphrase variable %s is not set" % self._passphrase_env)
            return value.encode("utf-8")
        data = _read_private(self._passphrase_file, "passphrase file")
        return data.splitlines()[0] if data else b""

    def _raw_key(self):
        if self._key is not None:
            return bytes(self._key)
        data = _read_private(self._key_file, "key file")
        if len(data) == 32:
            return data
        text = data.rstrip(b"\r\n")
        if len(text) == 64:
            return bytes.fromhex(text.decode("ascii"))
        raise PersistenceDecryptionError("a key file must hold 32 bytes or 64 hexadecimal digits")

    def _key_for(self, salt, log_n, r, p):
        if self._source == SOURCE_KEY_FILE:
            return self._raw_key()
        if salt not in self._derived:
            passphrase = self._passphrase_bytes()
            if not passphrase:
                raise PersistenceDecryptionError("the passphrase is empty")
            self._derived[salt] = Scrypt(salt=salt, length=32, n=1 << log_n, r=r, p=p).derive(passphrase)
        return self._derived[salt]

    def save(self, content):
        try:
            source = self._source
            if source == SOURCE_PASSPHRASE:
                salt = next(iter(self._derived), None) or os.urandom(16)
                kdf, log_n, r, p = 1, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P
            else:
                salt, kdf, log_n, r, p = b"", 0, 0, 0, 0
            key = self._key_for(salt, log_n, r, p)
            nonce = os.urandom(12)
            header = MAGIC + struct.pack(">BBBBIIB", VERSION, source, kdf, log_n, r, p, len(salt)) + salt + _key_check(key) + nonce
            sealed = AESGCM(key).encrypt(nonce, content.encode("utf-8"), header)
        except (ValueError, OSError) as error:
            raise PersistenceEncryptionError("cannot encrypt the cache: %s" % type(error).__name__)
        folder = os.path.dirname(self._location) or "."
        os.makedirs(folder, mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(self._location) + ".")
        try:
            with os.fdopen(handle, "wb") as output:
                output.write(header + sealed)
                output.flush()
                os.fsync(output.fileno())
            os.replace(temporary, self._location)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    def load(self):
        try:
            with open(self._location, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise PersistenceNotFound(location=self._location)
        if data[:4] != MAGIC or len(data) < 17:
            raise PersistenceDecryptionError("%s is not a tokencache encrypted file" % self._location)
        version, source, kdf, log_n, r, p, salt_length = struct.unpack(">BBBBIIB", data[4:17])
        if version != VERSION:
            raise PersistenceDecryptionError("envelope version %d is not supported" % version)
        if source != self._source:
            raise PersistenceDecryptionError("the cache was encrypted with another key source")
        end_of_header = 17 + salt_length + 8 + 12
        salt = data[17:17 + salt_length]
        check = data[17 + salt_length:25 + salt_length]
        nonce = data[25 + salt_length:end_of_header]
        key = self._key_for(salt, log_n, r, p)
        if _key_check(key) != check:
            raise PersistenceDecryptionError("wrong key or passphrase for %s" % self._location)
        try:
            plain = AESGCM(key).decrypt(nonce, data[end_of_header:], data[:end_of_header])
        except InvalidTag:
            raise PersistenceDecryptionError("%s was changed or is damaged" % self._location)
        return plain.decode("utf-8")

    def time_last_modified(self):
        try:
            return os.path.getmtime(self._location)
        except FileNotFoundError:
            raise PersistenceNotFound(location=self._location)

    def get_location(self):
        return self._location
