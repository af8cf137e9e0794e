#include "CTextScan.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

static inline int is_plain(uint8_t byte) {
    return byte >= 0x20 && byte <= 0x7E && byte != '"' && byte != '\\';
}

size_t ctextscan_plain_prefix(const uint8_t *bytes, size_t count) {
    size_t position = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i del = _mm_set1_epi8(0x7F);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; position + 16 <= count; position += 16) {
        __m128i chunk = _mm_loadu_si128((const __m128i *)(bytes + position));
        // A signed comparison: below 0x20 catches control characters and, as negative
        // numbers, every byte from 0x80 up.
        __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmplt_epi8(chunk, space), _mm_cmpeq_epi8(chunk, del)),
            _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)));
        int mask = _mm_movemask_epi8(special);
        if (mask != 0) return position + (size_t)__builtin_ctz((unsigned)mask);
    }
#elif defined(__aarch64__)
    const uint8x16_t space = vdupq_n_u8(0x20);
    const uint8x16_t tilde = vdupq_n_u8(0x7E);
    const uint8x16_t quote = vdupq_n_u8('"');
    const uint8x16_t backslash = vdupq_n_u8('\\');
    for (; position + 16 <= count; position += 16) {
        uint8x16_t chunk = vld1q_u8(bytes + position);
        uint8x16_t special = vorrq_u8(
            vorrq_u8(vcltq_u8(chunk, space), vcgtq_u8(chunk, tilde)),
            vorrq_u8(vceqq_u8(chunk, quote), vceqq_u8(chunk, backslash)));
        if (vmaxvq_u8(special) != 0) break;
    }
#endif
    while (position < count && is_plain(bytes[position])) position++;
    return position;
}
