// The kernel's key management system calls, which glibc offers only through the variadic
// syscall(2) that Swift cannot call. errno is left as the kernel set it.
#ifndef CKEYCTL_H
#define CKEYCTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/// keyctl(2): `operation` with up to four arguments.
static inline long ckeyctl(int operation, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return syscall(SYS_keyctl, operation, a2, a3, a4, a5);
}

/// add_key(2): a key of `type` named `description` with `payload`, linked into `keyring`.
static inline int32_t ckeyctl_add_key(const char *type, const char *description, const void *payload, size_t length, int32_t keyring) {
    return (int32_t)syscall(SYS_add_key, type, description, payload, length, keyring);
}

#endif
