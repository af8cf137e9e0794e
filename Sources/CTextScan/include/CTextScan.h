// Wide (SIMD) scans of JSON text that Swift's generic SIMD types do not compile to vector
// instructions: each call looks at 16 bytes per step (SSE2 on x86-64, NEON on arm64; a byte at a time elsewhere).
#ifndef CTEXTSCAN_H
#define CTEXTSCAN_H

#include <stddef.h>
#include <stdint.h>

/// How many bytes from the start of `bytes` are plain string text as MSAL Python's
/// `json.dumps` writes it: printable ASCII (0x20 to 0x7E) other than `"` and `\`.
/// Returns `count` when all are.
size_t ctextscan_plain_prefix(const uint8_t *bytes, size_t count);

#endif
