# Bad input for the tools and the control socket they open: a socket
# starved by clients that trickle bytes and never end a line, bytes outside
# ASCII, arguments a command does not take; and bad command lines for
# pausemeter, pausestat and gc_server (zero durations, empty or unusable
# paths). Each case asserts the exit code and the message.
add_executable(faults_tools_ctl_client
               ${CMAKE_CURRENT_SOURCE_DIR}/tools_ctl_client.c)
target_link_libraries(faults_tools_ctl_client PRIVATE tenure::runtime)

add_test(NAME faults.tools.ctl
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools_ctl.sh
                 $<TARGET_FILE:pausemeter>
                 $<TARGET_FILE:faults_tools_ctl_client>)
add_test(NAME faults.tools.pausemeter
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools_pausemeter.sh
                 $<TARGET_FILE:pausemeter>)
add_test(NAME faults.tools.pausestat
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools_pausestat.sh
                 $<TARGET_FILE:pausestat>)
add_test(NAME faults.tools.gc_server
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tools_gc_server.sh
                 $<TARGET_FILE:gc_server>)
set_tests_properties(faults.tools.ctl faults.tools.pausemeter
                     faults.tools.pausestat faults.tools.gc_server
                     PROPERTIES TIMEOUT 120)
