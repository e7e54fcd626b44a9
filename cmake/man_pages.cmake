#   The manual pages, made at build time from the built tool's --help with
#   help2man, so that they say what --help says: sstream-pipe.1, and
#   sstream-pipe-COMMAND.1 for every command that 'sstream-pipe --help'
#   lists. Run by tools/CMakeLists.txt:
#
#   cmake -DTOOL=sstream-pipe -DHELP2MAN=help2man -DOUT=folder -DCONFIG_DIR=/etc/sstream
#         -DUNIT=sstream-gateway@.service -P man_pages.cmake

foreach (variable TOOL HELP2MAN OUT CONFIG_DIR UNIT)
    if (NOT DEFINED ${variable})
        message (FATAL_ERROR "man_pages.cmake: -D${variable}= is missing")
    endif ()
endforeach ()

#   The tool under the sanitizers must not fail on its own exit
set (ENV{ASAN_OPTIONS} "detect_leaks=0")
set (ENV{LC_ALL} C)

function (s_run)
    execute_process (COMMAND ${ARGN} RESULT_VARIABLE failed OUTPUT_VARIABLE output
                     ERROR_VARIABLE errors)
    if (failed)
        string (REPLACE ";" " " command "${ARGN}")
        message (FATAL_ERROR "man_pages.cmake: '${command}' failed (${failed}): ${errors}")
    endif ()
    set (output "${output}" PARENT_SCOPE)
endfunction ()

s_run ("${TOOL}" --version)
string (REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" version "${output}")
s_run ("${TOOL}" --help)
string (REGEX MATCHALL "\n  [a-z]+ +[^\n]+" lines "${output}")
set (commands)
foreach (line IN LISTS lines)
    string (REGEX REPLACE "^\n  ([a-z]+) +(.*)$" "\\1" command "${line}")
    string (REGEX REPLACE "^\n  ([a-z]+) +(.*)$" "\\2" summary "${line}")
    list (APPEND commands "${command}")
    set (summary_${command} "${summary}")
endforeach ()
if (NOT commands)
    message (FATAL_ERROR "man_pages.cmake: '${TOOL} --help' lists no commands")
endif ()

file (REMOVE_RECURSE "${OUT}")
file (MAKE_DIRECTORY "${OUT}/bin" "${OUT}/include")

#   Sections help2man adds to the pages (--include): SEE ALSO names the
#   others
function (s_see_also page variable)
    set (names sstream-pipe)
    foreach (command IN LISTS commands)
        list (APPEND names "sstream-pipe-${command}")
    endforeach ()
    list (REMOVE_ITEM names "${page}")
    list (TRANSFORM names REPLACE "-" "\\\\-")
    list (TRANSFORM names PREPEND ".BR ")
    list (TRANSFORM names APPEND " (1)")
    list (JOIN names ",\n" text)
    set (${variable} "[SEE ALSO]\n${text}\n" PARENT_SCOPE)
endfunction ()
set (service_file "
.TP
.I ${CONFIG_DIR}/gateway\\-NAME.cfg
the config of the gateway that the systemd service
.B sstream\\-gateway@NAME
runs, as the user
.BR sstream ;
.B systemctl reload sstream\\-gateway@NAME
sends it SIGHUP. The unit:
.IR ${UNIT} .
")
set (extra_sstream-pipe "
[ENVIRONMENT]
.TP
.B SSTREAM_PLUGIN_PATH
Folders (colon-separated) searched for transport plugins before the
install folder.

[FILES]${service_file}")
set (extra_sstream-pipe-gateway "
[FILES]${service_file}")

function (s_page name program summary)
    s_see_also ("${name}" see_also)
    file (WRITE "${OUT}/include/${name}.h2m" "${see_also}${extra_${name}}")
    s_run ("${HELP2MAN}" --no-info "--version-string=${version}"
           "--name=${summary}" "--include=${OUT}/include/${name}.h2m"
           "--output=${OUT}/${name}.1" "${program}")
    #   Debian keeps manual pages compressed
    s_run (gzip -9nkf "${OUT}/${name}.1")
endfunction ()

s_page (sstream-pipe "${TOOL}" "stream data between facilities through sstream gateways")
foreach (command IN LISTS commands)
    #   help2man names a page after the program it runs: one of its own
    #   for each command
    set (wrapper "${OUT}/bin/sstream-pipe-${command}")
    file (WRITE "${wrapper}" "#!/bin/sh\nexec '${TOOL}' ${command} \"$@\"\n")
    file (CHMOD "${wrapper}" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
          GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
    s_page ("sstream-pipe-${command}" "${wrapper}" "${summary_${command}}")
endforeach ()
file (WRITE "${OUT}/commands.txt" "${commands}\n")
