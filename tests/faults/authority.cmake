# Attacks on the file authority's lease file (lease/backends/file.c): the
# file deleted, moved over, truncated or corrupted under its holder, a full
# disk during an append, and tenurectl on files it may only read, on a FIFO
# and behind another process's lock. Each script gets fenced_counter,
# check_writes, tenurectl and a small helper; 77 means the environment
# cannot run it (no tmpfs mount, no unprivileged user), reported as a skip.
add_executable(faults_authority_helper
               ${CMAKE_CURRENT_SOURCE_DIR}/authority_helper.c)
target_link_libraries(faults_authority_helper PRIVATE tenure::lease)

foreach(_case replace full_disk damage tenurectl)
  add_test(NAME faults.authority.${_case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/authority_${_case}.sh
                   $<TARGET_FILE:fenced_counter>
                   $<TARGET_FILE:check_writes>
                   $<TARGET_FILE:tenurectl>
                   $<TARGET_FILE:faults_authority_helper>)
  set_tests_properties(faults.authority.${_case} PROPERTIES
                       TIMEOUT 240 SKIP_RETURN_CODE 77)
endforeach()
