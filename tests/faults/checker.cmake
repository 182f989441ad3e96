# The safety checker (examples/fenced_counter/check_writes) and the store
# protocol it checks: writers killed at any instant leave no false
# violation and hide no true one; two holders under one token are caught;
# both programs refuse bad arguments.
add_test(NAME faults.checker.kill_writers
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/checker_kill.sh ${PROJECT_BINARY_DIR} 200)
# 200 process start-ups on a 2-core machine: keep other tests off the CPU
# so that the timing-sensitive safety runs are not starved by this one.
set_tests_properties(faults.checker.kill_writers PROPERTIES TIMEOUT 180 RUN_SERIAL TRUE)

foreach(_case shared_token torn_write violations cli)
  add_test(NAME faults.checker.${_case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/checker_logs.sh ${PROJECT_BINARY_DIR} ${_case})
  set_tests_properties(faults.checker.${_case} PROPERTIES TIMEOUT 60)
endforeach()

add_test(NAME faults.checker.fenced_counter_args
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/checker_args.sh ${PROJECT_BINARY_DIR})
set_tests_properties(faults.checker.fenced_counter_args PROPERTIES TIMEOUT 60)
