# Interface targets carrying our warning and sanitizer flags; every target of
# ours links them PRIVATE so they never leak to consumers.
add_library(crimirror_warnings INTERFACE)
target_compile_options(crimirror_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wformat=2)

add_library(crimirror_sanitizers INTERFACE)
if(CRI_MIRROR_SANITIZE)
  target_compile_options(crimirror_sanitizers INTERFACE
    -fsanitize=${CRI_MIRROR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(crimirror_sanitizers INTERFACE -fsanitize=${CRI_MIRROR_SANITIZE})
endif()

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
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${ARG_NAME} DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "${ARG_LABELS}")
endfunction()
