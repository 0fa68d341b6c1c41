# Script mode (cmake -P): writes the imgfactory(1) man page with help2man from the built
# binary's --help and --version, plus each subcommand's --help, the exit codes and SEE ALSO.
#
#   cmake -DIMGF_BIN=path/to/imgfactory -DHELP2MAN=/usr/bin/help2man -DOUT=imgfactory.1 -P Manpage.cmake
#
# help2man formats the top-level --help (NAME, SYNOPSIS, OPTIONS); the subcommands' own
# --help texts go in verbatim (.nf) under SUBCOMMANDS. SOURCE_DATE_EPOCH, when set, dates
# the page (help2man honours it): the same inputs give the same page.
foreach(var IMGF_BIN HELP2MAN OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "Manpage.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_help out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(JOIN " " cmd ${ARGN})
    message(FATAL_ERROR "Manpage.cmake: `${cmd}` failed (${rc}): ${err}")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# roff: a backslash is \e; a line that starts with '.' or '\'' would be a request.
function(roff_verbatim out_var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

set(ENV{NO_COLOR} 1)
unset(ENV{KUBERNETES_SERVICE_HOST})
run_help(top "${IMGF_BIN}" --help)

# The subcommands, as the top-level help lists them ("Subcommands:" then "  name  text").
string(FIND "${top}" "\nSubcommands:\n" at)
if(at LESS 0)
  message(FATAL_ERROR "Manpage.cmake: `imgfactory --help` lists no subcommands:\n${top}")
endif()
string(SUBSTRING "${top}" ${at} -1 listing)
string(REGEX MATCHALL "\n  [a-z][a-z0-9-]*" names "${listing}")

set(sections [=[
[DESCRIPTION]
.B imgfactory
keeps a fleet of container images built, current and safe. Images are enrolled in
.I images.yaml
in a state repository;
.B analyze
finds their base images and keeps the state files current,
.B synth
writes the Kargo manifests that watch them,
.B build
builds and pushes one multi-platform manifest list with buildah,
.B scan
reads and gates Trivy reports, and
.B healthcheck
checks the builder image's tools.
[SUBCOMMANDS]
Each subcommand's options, as
.B imgfactory
.I SUBCOMMAND
.B \-\-help
prints them.
]=])
foreach(n IN LISTS names)
  string(STRIP "${n}" name)
  run_help(sub "${IMGF_BIN}" ${name} --help)
  roff_verbatim(sub "${sub}")
  string(APPEND sections ".SS \"imgfactory ${name}\"\n.nf\n${sub}.fi\n")
endforeach()
string(APPEND sections [=[
[EXIT STATUS]
.TP
.B 0
success
.TP
.B 1
the operation failed (build, push, clone, scanner error; healthcheck: unhealthy)
.TP
.B 2
usage or input error (bad flag, invalid images.yaml, unknown image, unparseable Dockerfile)
.TP
.B 3
scan policy violated (\fBscan \-\-fail\-on\fR)
.TP
.B 130, 143
interrupted by SIGINT or SIGTERM (children stopped, nothing half-written)
[SEE ALSO]
.BR buildah (1),
.BR skopeo (1),
.BR podman (1),
.BR git (1),
.BR trivy (1)
]=])

get_filename_component(out_dir "${OUT}" DIRECTORY)
set(include_file "${out_dir}/imgfactory.h2m")
file(WRITE "${include_file}" "${sections}")
execute_process(
  COMMAND "${HELP2MAN}" --no-info --no-discard-stderr
          --name "keep a fleet of container images built, current and safe"
          --include "${include_file}" --output "${OUT}.tmp" "${IMGF_BIN}"
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "Manpage.cmake: help2man failed (${rc}): ${err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
