# Shared by the install tests (install_test.cmake, install_c_test.cmake): run(WHAT COMMAND...)
# fails the test with the command's output, and the build tree is installed into
# WORK_DIR/prefix (set as `prefix`), with the demo model checked to be in share/minillm.
# Inputs (-D): BUILD_DIR CONFIG WORK_DIR.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(run_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
run("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args})

set(MODEL "${prefix}/share/minillm/stories260K.gguf")
if(NOT EXISTS "${MODEL}")
  message(FATAL_ERROR "the demo model was not installed as ${MODEL}")
endif()
