# CTest script (cmake -P): the per-ISA object files (*_avx2.cpp, *_avxvnni.cpp, *_avx512.cpp) must
# define no weak
# or unique symbols. Such a symbol is an inline function or template instance (std::vector<...>::
# resize, say) compiled with wide-ISA flags that the linker may pick for the whole program, where
# it would run AVX-512 instructions on a CPU without them. kernels/isa_local.h holds the helpers
# those files use instead.
# Inputs (-D): NM, OBJECTS (a ;-list, or a |-list from the command line).
cmake_minimum_required(VERSION 3.20)
string(REPLACE "|" ";" objects "${OBJECTS}")
set(checked 0)
foreach(obj IN LISTS objects)
  if(NOT obj MATCHES "_avx(2|vnni|512)\\.cpp\\.o$")
    continue()
  endif()
  math(EXPR checked "${checked} + 1")
  execute_process(COMMAND ${NM} -C --defined-only ${obj} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${obj}: ${err}")
  endif()
  string(REGEX MATCHALL "[^\n]* [WVu] [^\n]*" weak "${out}")
  if(weak)
    string(REPLACE ";" "\n" weak "${weak}")
    message(FATAL_ERROR "${obj} defines weak symbols (compiled with wide-ISA flags):\n${weak}")
  endif()
endforeach()
if(checked LESS 4)
  message(FATAL_ERROR "expected the per-ISA object files among: ${objects}")
endif()
message("checked ${checked} per-ISA object files")
