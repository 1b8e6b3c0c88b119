# Writes build_info.h with the project's version and the git commit of the source tree, at
# every build: configure_file rewrites it (and so rebuilds what includes it) only when the
# commit changed. "+dirty" marks uncommitted changes to tracked files.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE RSTMESH_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE git_result ERROR_QUIET)
if(NOT git_result EQUAL 0 OR RSTMESH_COMMIT STREQUAL "")
  set(RSTMESH_COMMIT "unknown")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" diff --quiet HEAD --
                  RESULT_VARIABLE dirty ERROR_QUIET)
  if(dirty EQUAL 1)
    string(APPEND RSTMESH_COMMIT "+dirty")
  endif()
endif()
configure_file("${SOURCE_DIR}/telemetry/build_info.h.in" "${OUTPUT}" @ONLY)
