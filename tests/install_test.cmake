# CTest script (cmake -P): installs the build tree into a scratch prefix, then builds and runs
# tests/consumer against it twice: with find_package(minillm) and with pkg-config.
# The consumers load the demo model from where it was installed (share/minillm/).
# Inputs (-D): BUILD_DIR CONFIG CONSUMER_SOURCE WORK_DIR CXX GENERATOR EXPECTED_TENSORS.
cmake_minimum_required(VERSION 3.20)

include(${CMAKE_CURRENT_LIST_DIR}/install_prefix.cmake)

# Headers were installed (the consumer then compiles every one of them on its own).
file(GLOB_RECURSE installed_headers "${prefix}/include/*")
if(NOT installed_headers)
  message(FATAL_ERROR "no headers were installed under ${prefix}/include")
endif()

# 1. CMake package.
run("configuring the consumer" ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE}" -B "${WORK_DIR}/cmake-build"
    -G "${GENERATOR}" -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
run("building the consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/cmake-build")
run("running the CMake consumer" "${WORK_DIR}/cmake-build/consumer" "${MODEL}")
if(NOT run_output STREQUAL "${EXPECTED_TENSORS}\n")
  message(FATAL_ERROR "CMake consumer printed '${run_output}', expected ${EXPECTED_TENSORS}")
endif()

# 2. pkg-config.
find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found")
endif()
file(GLOB_RECURSE pc_files "${prefix}/*/minillm.pc")
if(NOT pc_files)
  message(FATAL_ERROR "minillm.pc was not installed under ${prefix}")
endif()
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
run("pkg-config" ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} PKG_CONFIG_LIBDIR=${pc_dir}
    ${PKG_CONFIG} --cflags --libs minillm)
string(STRIP "${run_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
# The include directory it names must be the installed one (the .pc file must follow the prefix
# given to cmake --install, not the one the build was configured with).
get_filename_component(want_include "${prefix}/include" REALPATH)
set(found_include FALSE)
foreach(flag IN LISTS pc_flags)
  if(flag MATCHES "^-I(.+)$")
    get_filename_component(dir "${CMAKE_MATCH_1}" REALPATH)
    if(dir STREQUAL want_include)
      set(found_include TRUE)
    endif()
  endif()
endforeach()
if(NOT found_include)
  message(FATAL_ERROR "pkg-config flags '${pc_flags}' do not name the installed include directory "
                      "${want_include}")
endif()
run("compiling with pkg-config flags" ${CXX} "${CONSUMER_SOURCE}/main.cpp" -o "${WORK_DIR}/pc-consumer"
    ${pc_flags})
run("running the pkg-config consumer" "${WORK_DIR}/pc-consumer" "${MODEL}")
if(NOT run_output STREQUAL "${EXPECTED_TENSORS}\n")
  message(FATAL_ERROR "pkg-config consumer printed '${run_output}', expected ${EXPECTED_TENSORS}")
endif()
message("install test passed: ${prefix}")
