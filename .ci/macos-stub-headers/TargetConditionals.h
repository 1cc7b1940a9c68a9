/* Stand-in for the Apple SDK header, only so `.ci/check-macos` can type-check Courier for
   aarch64-apple-darwin on Linux: ring's build script compiles C that includes it. Nothing
   built with these headers is linked or run. */
#pragma once
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_SIMULATOR 0
