#pragma once
/// Which sanitizer this translation unit is built with, for the few places
/// that must know (annotations, tests' memory bounds): MUSTER_ASAN and
/// MUSTER_TSAN are defined, or not. g++ says so with __SANITIZE_ADDRESS__ /
/// __SANITIZE_THREAD__; clang 14 (Debian 12's) only through __has_feature.

#if defined(__SANITIZE_ADDRESS__)
#define MUSTER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MUSTER_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define MUSTER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MUSTER_TSAN 1
#endif
#endif
