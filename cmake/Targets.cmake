# Interface targets carrying our warning and sanitizer flags; every target of
# ours links them PRIVATE so they never leak to consumers.
add_library(crimirror_warnings INTERFACE)
target_compile_options(crimirror_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wformat=2)

add_library(crimirror_sanitizers INTERFACE)
set(crimirror_fuzzing OFF)
if(CRI_MIRROR_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(crimirror_fuzzing ON)
endif()
if(crimirror_fuzzing)
  # The fuzz tree (./build-fuzz, clang): every library of ours carries the
  # coverage instrumentation libFuzzer steers by, plus ASan and UBSan.
  target_compile_options(crimirror_sanitizers INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(crimirror_sanitizers INTERFACE -fsanitize=address,undefined)
elseif(CRI_MIRROR_SANITIZE)
  target_compile_options(crimirror_sanitizers INTERFACE
    -fsanitize=${CRI_MIRROR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(crimirror_sanitizers INTERFACE -fsanitize=${CRI_MIRROR_SANITIZE})
endif()

# crimirror_tsan_annotate(<executable>): ThreadSanitizer builds only. Links
# tests/tsan/absl_mutex_annotations.cc, which makes Debian's uninstrumented
# absl::Mutex and CondVar visible to TSan, and exports those members from the
# executable so Abseil's and gRPC's own calls go through the annotations too.
function(crimirror_tsan_annotate target)
  target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/tsan/absl_mutex_annotations.cc)
  target_link_libraries(${target} PRIVATE absl::synchronization ${CMAKE_DL_LIBS})
  target_link_options(${target} PRIVATE
    "LINKER:--export-dynamic-symbol=_ZN4absl*5Mutex*"
    "LINKER:--export-dynamic-symbol=_ZN4absl*7CondVar*")
endfunction()

# crimirror_library(NAME <dir> SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# Builds crimirror_<dir>, alias crimirror::<dir>, include root = project root
# so headers are included as "resolver/reference.h".
function(crimirror_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(crimirror_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(crimirror::${ARG_NAME} ALIAS crimirror_${ARG_NAME})
  target_include_directories(crimirror_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(crimirror_${ARG_NAME}
    PUBLIC ${ARG_PUBLIC_DEPS}
    PRIVATE ${ARG_PRIVATE_DEPS} crimirror_warnings crimirror_sanitizers)
endfunction()

# crimirror_test(NAME <binary> SOURCES ... DEPS ... [LABELS ...])
# One GoogleTest binary per library; discovered at test time.
function(crimirror_test)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS}
    GTest::gtest GTest::gmock GTest::gtest_main crimirror_warnings crimirror_sanitizers)
  if(CRI_MIRROR_SANITIZE MATCHES "thread")
    crimirror_tsan_annotate(${ARG_NAME})
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${ARG_NAME} DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}")
endfunction()

# crimirror_fuzzer(NAME <binary> SOURCES ... DEPS ... MAX_LEN <bytes>)
# A libFuzzer target (fuzz tree only: -DCRI_MIRROR_FUZZ=ON with clang) and
# its bounded smoke run, ctest label "fuzz": at most 10 s or 200k inputs,
# seeded from the committed corpus <dir>/fuzz_corpus/<binary>/. New inputs
# go to <build>/fuzz_work/<binary>/, never into the source tree. A crash,
# sanitizer report, leak or an input running over 10 s fails the test.
function(crimirror_fuzzer)
  if(NOT crimirror_fuzzing)
    return()
  endif()
  cmake_parse_arguments(ARG "" "NAME;MAX_LEN" "SOURCES;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} crimirror_warnings crimirror_sanitizers)
  target_link_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer)
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_corpus/${ARG_NAME})
  set(work ${CMAKE_BINARY_DIR}/fuzz_work/${ARG_NAME})
  file(MAKE_DIRECTORY ${work})
  add_test(NAME ${ARG_NAME}_smoke
    COMMAND ${ARG_NAME} -runs=200000 -max_total_time=10 -timeout=10 -rss_limit_mb=2048
            -max_len=${ARG_MAX_LEN} -seed=1 ${work} ${corpus})
  set_tests_properties(${ARG_NAME}_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
endfunction()
