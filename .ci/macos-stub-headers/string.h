/* Stand-in for the macOS libc header (see TargetConditionals.h): type-checking only.
   Declares the four functions ring's C uses. */
#pragma once
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
