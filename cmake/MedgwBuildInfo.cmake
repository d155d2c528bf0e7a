# Generates <medgw/build_info.hpp> (version, git commit, build type, compiler)
# at build time, rewriting it only when a value changed so that a commit does
# not force a full rebuild.
set(MEDGW_GENERATED_DIR "${PROJECT_BINARY_DIR}/generated")
add_custom_target(medgw_build_info
  COMMAND ${CMAKE_COMMAND}
    -DOUT=${MEDGW_GENERATED_DIR}/medgw/build_info.hpp
    -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
    -DVERSION=${PROJECT_VERSION}
    -DBUILD_TYPE=$<CONFIG>
    "-DCOMPILER=${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}"
    -DSANITIZE=${MEDGW_SANITIZE}
    -P ${PROJECT_SOURCE_DIR}/cmake/write_build_info.cmake
  BYPRODUCTS ${MEDGW_GENERATED_DIR}/medgw/build_info.hpp
  COMMENT "Refreshing build info"
  VERBATIM)
target_include_directories(medgw_build_options INTERFACE ${MEDGW_GENERATED_DIR})
