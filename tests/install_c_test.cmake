# CTest script (cmake -P): installs the build tree into a scratch prefix, then builds the C
# program tests/consumer_c against it (CMake package: static and shared library; pkg-config
# minillm_c with the C compiler alone) and runs it on the installed demo model. What it must
# find comes from the installed mini-llm command, that is from the C++ library: the prompt's
# ids, the logits of its last position and the greedy continuation.
# Inputs (-D): BUILD_DIR CONFIG CONSUMER_SOURCE WORK_DIR CC CXX GENERATOR.
cmake_minimum_required(VERSION 3.20)

include(${CMAKE_CURRENT_LIST_DIR}/install_prefix.cmake)

set(CLI "${prefix}/bin/mini-llm")
set(PROMPT "Once upon a time")
set(N_TOKENS 24)
foreach(file IN ITEMS "${MODEL}" "${CLI}" "${prefix}/include/minillm/minillm_c.h")
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "${file} was not installed")
  endif()
endforeach()

# The expectations, from the C++ library.
run("mini-llm tokenize" "${CLI}" tokenize -m "${MODEL}" -p "${PROMPT}")
file(WRITE "${WORK_DIR}/ids.txt" "${run_output}")
string(STRIP "${run_output}" ids)
run("mini-llm logits" "${CLI}" logits -m "${MODEL}" --ids "${ids}" -o "${WORK_DIR}/logits.f32")
run("mini-llm generate" "${CLI}" generate -m "${MODEL}" -p "${PROMPT}" -n ${N_TOKENS} --temp 0
    --no-echo)
file(WRITE "${WORK_DIR}/text.txt" "${run_output}")
set(consumer_args "${MODEL}" "${PROMPT}" ${N_TOKENS} "${WORK_DIR}/ids.txt"
    "${WORK_DIR}/logits.f32" "${WORK_DIR}/text.txt")

# 1. CMake package: the static library and the shared one.
run("configuring the C consumer" ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE}" -B "${WORK_DIR}/cmake-build"
    -G "${GENERATOR}" -DCMAKE_C_COMPILER=${CC} -DCMAKE_CXX_COMPILER=${CXX}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_SYSTEM_PACKAGE_REGISTRY=ON
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
run("building the C consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/cmake-build")
foreach(variant static shared)
  run("running the C consumer (${variant})" "${WORK_DIR}/cmake-build/consumer_c_${variant}"
      ${consumer_args})
  if(NOT run_output STREQUAL "ok\n")
    message(FATAL_ERROR "the ${variant} C consumer printed '${run_output}'")
  endif()
endforeach()

# 2. pkg-config minillm_c and the C compiler only (no C++ flags, no C++ runtime named).
find_program(PKG_CONFIG pkg-config)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "pkg-config not found")
endif()
file(GLOB_RECURSE pc_files "${prefix}/*/minillm_c.pc")
if(NOT pc_files)
  message(FATAL_ERROR "minillm_c.pc was not installed under ${prefix}")
endif()
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
run("pkg-config" ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir} PKG_CONFIG_LIBDIR=${pc_dir}
    ${PKG_CONFIG} --cflags --libs minillm_c)
string(STRIP "${run_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
get_filename_component(libdir "${pc_dir}" DIRECTORY)
run("compiling the C consumer with pkg-config flags" ${CC} -std=c11 -Wall -Wextra -pedantic -Werror
    "${CONSUMER_SOURCE}/main.c" -o "${WORK_DIR}/pc-consumer-c" ${pc_flags} "-Wl,-rpath,${libdir}")
run("running the pkg-config C consumer" "${WORK_DIR}/pc-consumer-c" ${consumer_args})
if(NOT run_output STREQUAL "ok\n")
  message(FATAL_ERROR "the pkg-config C consumer printed '${run_output}'")
endif()
message("C API install test passed: ${prefix}")
