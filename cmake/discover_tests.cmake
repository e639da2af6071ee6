# Lists the cases of a doctest binary and writes a CTest file with one test
# per case; cases in TEST_SUITE("slow") get the label "slow", so
# `ctest -LE slow` leaves them out. Run after each link (cmake -P) with:
#   EXECUTABLE        the test binary
#   PREFIX            put before each case's name ("actors: ")
#   WORKING_DIRECTORY where the tests run
#   OUTPUT            the CTest file to write
# Our own rather than doctest's ADD_LABELS, which runs the binary once per
# case and, in Debian's doctest 2.4.9, finds no suite for a name holding a
# comma (it passes the name to --test-case unescaped, and the comma splits it).
foreach(argument EXECUTABLE PREFIX WORKING_DIRECTORY OUTPUT)
  if(NOT DEFINED ${argument})
    message(FATAL_ERROR "discover_tests.cmake needs -D${argument}=...")
  endif()
endforeach()

# The names of the cases `filter` selects, one list item each (a case's
# name must hold no ';').
function(list_cases filter out)
  execute_process(COMMAND "${EXECUTABLE}" ${filter} --list-test-cases
                  OUTPUT_VARIABLE listing RESULT_VARIABLE status WORKING_DIRECTORY "${WORKING_DIRECTORY}")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${EXECUTABLE} ${filter} --list-test-cases failed (${status}):\n${listing}")
  endif()
  string(REPLACE "\n" ";" lines "${listing}")
  set(names "")
  foreach(line IN LISTS lines)
    if(line STREQUAL "" OR line MATCHES "^=+$" OR line MATCHES "^\\[doctest\\] ")
      continue()
    endif()
    list(APPEND names "${line}")
  endforeach()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

set(script "")
foreach(suite IN ITEMS quick slow)
  if(suite STREQUAL "slow")
    list_cases(--test-suite=slow names)
    set(labels "LABELS slow")
  else()
    list_cases(--test-suite-exclude=slow names)
    set(labels "")
  endif()
  foreach(name IN LISTS names)
    # --test-case takes a comma-separated list of patterns: escape the commas.
    string(REPLACE "," "\\," pattern "${name}")
    string(APPEND script
      "add_test([==[${PREFIX}${name}]==] [==[${EXECUTABLE}]==] [==[--test-case=${pattern}]==])\n"
      "set_tests_properties([==[${PREFIX}${name}]==] PROPERTIES WORKING_DIRECTORY [==[${WORKING_DIRECTORY}]==] ${labels})\n")
  endforeach()
endforeach()
file(WRITE "${OUTPUT}" "${script}")
