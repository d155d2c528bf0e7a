# Build options and the INTERFACE target every medgw target links for its
# language level and warnings.
option(MEDGW_WERROR "Treat compiler warnings as errors (CI sets this)" OFF)
option(MEDGW_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(MEDGW_FUZZ "Build libFuzzer targets (needs clang)" OFF)
option(MEDGW_BUILD_TESTS "Build the test suite" ON)
option(MEDGW_BUILD_BENCH "Build the benchmark drivers" ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

add_library(medgw_build_options INTERFACE)
add_library(medgw::build_options ALIAS medgw_build_options)
target_compile_features(medgw_build_options INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)
target_compile_options(medgw_build_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wformat=2
  # Off for targets that instantiate Boost.Asio (property MEDGW_ASIO): GCC 12
  # reports it inside Asio's inlined scheduler, not in our code.
  $<$<NOT:$<BOOL:$<TARGET_PROPERTY:MEDGW_ASIO>>>:-Wnull-dereference>
  -Wimplicit-fallthrough -Wmissing-declarations
  $<$<BOOL:${MEDGW_WERROR}>:-Werror>)
# Hardening that hospitals' security reviewers look for in a network daemon.
target_compile_definitions(medgw_build_options INTERFACE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>
  _GLIBCXX_ASSERTIONS)
target_compile_options(medgw_build_options INTERFACE -fstack-protector-strong -fPIE)
target_link_options(medgw_build_options INTERFACE -pie -Wl,-z,relro,-z,now)

if(MEDGW_SANITIZE)
  target_compile_options(medgw_build_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
    # -O1: the tests run about twice as fast as at -O0, the reports stay exact.
    -O1
    # clang 14's -fsanitize=function (part of "undefined") cannot compile C++20
    # coroutines ("Cannot represent a difference across sections").
    $<$<CXX_COMPILER_ID:Clang>:-fno-sanitize=function>)
  target_link_options(medgw_build_options INTERFACE -fsanitize=address,undefined)
  # _FORTIFY_SOURCE conflicts with ASan's interceptors.
  target_compile_options(medgw_build_options INTERFACE -U_FORTIFY_SOURCE)
endif()

if(MEDGW_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MEDGW_FUZZ needs clang (libFuzzer); configure with CXX=clang++")
  endif()
  # Coverage instrumentation for the libraries; the fuzz targets link libFuzzer.
  target_compile_options(medgw_build_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# medgw_add_library(NAME folder SOURCES ...) - one library per source folder.
function(medgw_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC medgw::build_options)
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
