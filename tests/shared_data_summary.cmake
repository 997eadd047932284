# CTest script (cmake -P) for the test `shared_data_missing`, registered only when the shared reference
# data (../shared) is missing outside CI: counts the tests left out for that reason and reports
# them in one line as a skipped test.
# Inputs (-D): SHARED_DIR; PROGRAMS, a list of "PROGRAM|GTEST_FILTER".
cmake_minimum_required(VERSION 3.20)

set(count 0)
foreach(entry IN LISTS PROGRAMS)
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 program)
  list(GET parts 1 filter)
  execute_process(COMMAND "${program}" --gtest_list_tests "--gtest_filter=${filter}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE listing)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${program} --gtest_list_tests failed (${rc})")
  endif()
  # Test names are the indented lines; suite names are not indented.
  string(REGEX MATCHALL "\n  [^\n]+" names "\n${listing}")
  list(LENGTH names n)
  math(EXPR count "${count} + ${n}")
endforeach()
message("SKIP: ${count} tests need the shared reference data, which is not at ${SHARED_DIR} "
        "(put it there or configure with -DMINILLM_SHARED_DIR=PATH)")
