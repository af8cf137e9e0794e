// The functions are static inline in include/CKeyctl.h; a C target needs one source file.
