# pausesim never strands a target: stopping pausesim cannot stretch a stall
# (the guardian ends it), a kill -9 of pausesim does not orphan its COMMAND,
# and after a kill -9 of pausesim and its guardian, --recover continues the
# target the log names (and leaves a recycled pid alone).
add_test(NAME faults.pausesim.strand
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/pausesim_strand.sh
                 $<TARGET_FILE:pausesim>)
set_tests_properties(faults.pausesim.strand PROPERTIES TIMEOUT 120)
