# Every dependency comes from Debian 12 packages (scripts/install-deps).
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
find_package(SQLite3 3.40 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CURL 7.88 REQUIRED)
find_package(LibArchive 3.6 REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd>=1.5)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
if(MEDGW_BUILD_TESTS)
  find_package(Catch2 2.13 REQUIRED)
endif()

# yaml-cpp 0.7's CMake config names the target "yaml-cpp" without a namespace.
if(TARGET yaml-cpp AND NOT TARGET yaml-cpp::yaml-cpp)
  add_library(yaml-cpp::yaml-cpp ALIAS yaml-cpp)
endif()
