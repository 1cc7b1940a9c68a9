/* Stand-in for the macOS libc header (see TargetConditionals.h): type-checking only. */
#pragma once
#define assert(x) ((void)0)
