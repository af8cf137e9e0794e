"""The encrypted token cache of the Swift tokencache library, for MSAL Python apps.

``EncryptedFilePersistence`` implements msal-extensions' persistence interface (save, load,
time_last_modified, get_location) for tokencache's AES-256-GCM envelope, so a Python app
and a Swift app can share one encrypted cache file:

    from msal_extensions import PersistedTokenCache
    from tokencache_encrypted import EncryptedFilePersistence

    persistence = EncryptedFilePersistence("~/.cache/tokens.bin", passphrase_env="TOKENCACHE_PASSPHRASE")
    app = msal.PublicClientApplication(client_id, token_cache=PersistedTokenCache(persistence))

PersistedTokenCache locks ``<path>.lockfile``, the same lock tokencache takes. The key of an
existing passphrase-encrypted file is derived when the persistence is made, so scrypt (a
tenth of a second or more) does not run while other writers wait for that lock. Writes are
atomic (a 0600 temporary file renamed over the cache). Requires the ``cryptography``
package, which msal already depends on.

``kernel_keyring=True`` keeps a random data key in the user's kernel keyring, as
``encrypted:PATH?key=kernel`` does (and ``encrypted:PATH`` where no Secret Service answers):
a key of type "user" named ``tokencache:data-key:<absolute path>`` in the persistent
keyring, through the keyctl and add_key system calls (ctypes, no other dependency). It is
gone after a reboot; a file whose key is gone raises PersistenceDecryptionError.

Envelope (version 1, big-endian): b"TKCE", version 1, key source (2 passphrase, 3 key file,
4 kernel keyring),
key derivation (1 scrypt, 0 none), log2(N), r (4 bytes), p (4 bytes), salt length, salt,
8-byte key check = SHA-256(b"tokencache key check v1" + key)[:8], 12-byte nonce, then the
AES-256-GCM ciphertext and tag, with everything before the ciphertext as associated data.
"""
import ctypes
import errno
import hashlib
import os
import platform
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
SOURCE_KERNEL = 4
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
# The longest header (the fixed part, a salt of up to 255 bytes, key check, nonce) and the tag.
LONGEST_HEADER_AND_TAG = 17 + 255 + 8 + 12 + 16


def _key_check(key):
    return hashlib.sha256(b"tokencache key check v1" + key).digest()[:8]


def _read_private(path, what):
    info = os.lstat(path)
    if (info.st_mode & 0o077) or info.st_uid != os.geteuid():
        raise PersistenceDecryptionError("%s %s must be readable only by you (chmod 600)" % (what, path))
    with open(path, "rb") as handle:
        return handle.read(4097)


class _KernelKeyring(object):
    """The data key of one cache in the kernel keyring, named and made as tokencache does."""
    # (add_key, keyctl) system call numbers.
    _CALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}
    _GET_PERSISTENT, _SETPERM, _UNLINK, _SEARCH, _READ, _MOVE = 22, 5, 9, 10, 11, 30
    _THREAD, _PROCESS, _USER = -1, -2, -4
    _POSSESSOR_ONLY = 0x3F010000
    _GONE = (errno.ENOKEY, errno.EKEYEXPIRED, errno.EKEYREVOKED)

    def __init__(self, location):
        calls = self._CALLS.get(platform.machine())
        if calls is None:
            raise PersistenceEncryptionError("the kernel keyring is not supported on %s" % platform.machine())
        self._add_key, self._keyctl = calls
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.syscall.restype = ctypes.c_long
        name = os.path.normpath(location if location.startswith("/") else os.getcwd() + "/" + location)
        if len(name.encode("utf-8")) > 3900:
            name = "sha256:" + hashlib.sha256(name.encode("utf-8")).hexdigest()
        self.description = ("tokencache:data-key:" + name).encode("utf-8")

    def _call(self, number, *arguments):
        result = self._libc.syscall(ctypes.c_long(number), *arguments)
        return result, (ctypes.get_errno() if result < 0 else 0)

    def _ctl(self, operation, *arguments):
        return self._call(self._keyctl, ctypes.c_long(operation), *[a if isinstance(a, (bytes, ctypes.Array)) else ctypes.c_long(a) for a in arguments])

    def _keyring(self):
        ring, error = self._ctl(self._GET_PERSISTENT, -1, self._PROCESS)
        if ring >= 0:
            return ring
        if error == errno.EOPNOTSUPP:
            return self._USER
        raise PersistenceEncryptionError("the kernel keyring cannot be used here: %s" % os.strerror(error))

    def _find(self, ring):
        key_id, error = self._ctl(self._SEARCH, ring, b"user", self.description, 0)
        if key_id < 0:
            if error in self._GONE:
                return None
            raise PersistenceEncryptionError("the kernel keyring cannot be searched: %s" % os.strerror(error))
        buffer = ctypes.create_string_buffer(32)
        size, error = self._ctl(self._READ, key_id, buffer, 32)
        if size < 0 and error in self._GONE:
            return None
        if size < 0:
            raise PersistenceEncryptionError("the kernel keyring's key cannot be read: %s" % os.strerror(error))
        if size != 32:
            raise PersistenceEncryptionError("the kernel keyring holds a key named %s that is not a 32-byte data key" % self.description.decode())
        return buffer.raw

    def key(self, creating):
        ring = self._keyring()
        found = self._find(ring)
        if found is not None or not creating:
            return found
        made = os.urandom(32)
        # Made in this thread's keyring, then moved only if no other thread or process made
        # one meanwhile (KEYCTL_MOVE_EXCL): add_key into the shared keyring would replace it.
        key_id = self._add(made, self._THREAD)
        moved, error = self._ctl(self._MOVE, key_id, self._THREAD, ring, 1)
        if moved == 0:
            return made
        self._ctl(self._UNLINK, key_id, self._THREAD)
        if error in (errno.EOPNOTSUPP, errno.EINVAL) and self._find(ring) is None:
            self._add(made, ring)  # a kernel before 5.1, without KEYCTL_MOVE
            return made
        if error not in (errno.EEXIST, errno.EOPNOTSUPP, errno.EINVAL):
            raise PersistenceEncryptionError("cannot keep the key in the kernel keyring: %s" % os.strerror(error))
        return self._find(ring)

    def _add(self, key, ring):
        key_id, error = self._call(self._add_key, b"user", self.description, key, ctypes.c_size_t(32), ctypes.c_long(ring))
        if key_id < 0:
            raise PersistenceEncryptionError("cannot add a key to the kernel keyring: %s" % os.strerror(error))
        self._ctl(self._SETPERM, key_id, self._POSSESSOR_ONLY)
        return key_id


class EncryptedFilePersistence(BasePersistence):
    """A tokencache-encrypted MSAL cache file. Give exactly one of passphrase,
    passphrase_env, passphrase_file, key (32 bytes), key_file or kernel_keyring=True."""
    is_encrypted = True

    def __init__(self, location, passphrase=None, passphrase_env=None, passphrase_file=None, key=None, key_file=None, kernel_keyring=False):
        given = [x is not None for x in (passphrase, passphrase_env, passphrase_file, key, key_file)] + [bool(kernel_keyring)]
        if sum(given) != 1:
            raise ValueError("give exactly one of passphrase, passphrase_env, passphrase_file, key, key_file, kernel_keyring")
        self._location = os.path.expanduser(location)
        self._kernel = _KernelKeyring(self._location) if kernel_keyring else None
        self._passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        self._passphrase_env = passphrase_env
        self._passphrase_file = passphrase_file
        self._key = key
        self._key_file = key_file
        self._derived = {}  # salt -> key
        self._warm_up()

    def _warm_up(self):
        """Derives the key of the file as it is now, outside any lock; a failure is left to load()."""
        if self._source != SOURCE_PASSPHRASE:
            return
        try:
            with open(self._location, "rb") as handle:
                header = handle.read(LONGEST_HEADER_AND_TAG)
            salt, log_n, r, p = self._parse_header(header)[4:]
            self._key_for(salt, log_n, r, p)
        except (OSError, ValueError, MemoryError, PersistenceDecryptionError):
            pass

    def _parse_header(self, data):
        """(version, source, kdf, end of header, salt, log2 N, r, p) of a file's first bytes;
        scrypt parameters beyond what this version writes are refused before any derivation."""
        if data[:4] != MAGIC or len(data) < 17:
            raise PersistenceDecryptionError("%s is not a tokencache encrypted file" % self._location)
        version, source, kdf, log_n, r, p, salt_length = struct.unpack(">BBBBIIB", data[4:17])
        if version != VERSION:
            raise PersistenceDecryptionError("envelope version %d is not supported" % version)
        if source != self._source:
            raise PersistenceDecryptionError("the cache was encrypted with another key source")
        if kdf not in (0, 1) or (kdf == 1) != (source == SOURCE_PASSPHRASE):
            raise PersistenceDecryptionError("%s names an unknown key derivation; it was changed or damaged" % self._location)
        if kdf == 1 and not (10 <= log_n <= SCRYPT_LOG_N and 1 <= r <= SCRYPT_R and 1 <= p <= SCRYPT_P):
            raise PersistenceDecryptionError("%s asks for scrypt parameters beyond what this version writes; it was changed or damaged" % self._location)
        end_of_header = 17 + salt_length + 8 + 12
        if len(data) < end_of_header + 16:
            raise PersistenceDecryptionError("%s is truncated" % self._location)
        return version, source, kdf, end_of_header, data[17:17 + salt_length], log_n, r, p

    @property
    def _source(self):
        if self._kernel is not None:
            return SOURCE_KERNEL
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

    def _key_for(self, salt, log_n, r, p, creating=False):
        if self._source == SOURCE_KERNEL:
            key = self._kernel.key(creating)
            if key is None:
                raise PersistenceDecryptionError(
                    "the data key in the kernel keyring is gone, as it is after a reboot; %s cannot be decrypted" % self._location)
            return key
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
            key = self._key_for(salt, log_n, r, p, creating=True)
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
        _, _, _, end_of_header, salt, log_n, r, p = self._parse_header(data)
        check = data[end_of_header - 20:end_of_header - 12]
        nonce = data[end_of_header - 12:end_of_header]
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
