# Checks that the objects compiled for an instruction-set level (build/core_levels/*.o, see the top-level
# CMakeLists.txt) export only their entry points: any other global symbol could be the copy that code outside the
# level links to, and would then run AVX instructions on a CPU without them.
#   cmake -DNM=<nm> -DDIR=<build>/core_levels -P level_symbols.cmake
# Prints "level_symbols: skipped" (the test's skip expression) when nm is missing or no level object was built.
if(NOT NM OR NOT EXISTS "${NM}")
  message("level_symbols: skipped: no nm program (install binutils)")
  return()
endif()
file(GLOB objects "${DIR}/*.o")
if(NOT objects)
  message("level_symbols: skipped: no level objects in ${DIR} (this build compiles no instruction-set levels)")
  return()
endif()
set(bad "")
foreach(object ${objects})
  get_filename_component(name "${object}" NAME_WE)  # e.g. gemm_avx2
  if(NOT name MATCHES "_(avx2|avx512)$")
    string(APPEND bad "\n  ${object}: not named <kernel>_<level>.o")
    continue()
  endif()
  set(level ${CMAKE_MATCH_1})
  # The entry points that core/kernels/*.cpp call, one pattern per line of nm -C output.
  set(allowed
      "^T tapegrad::kernels::levels::elementwise_(float|double)_${level}\\(\\)$"
      "^T tapegrad::kernels::levels::gemm_${level}(_workspace)?\\(tapegrad::kernels::levels::GemmCall<(float|double)> const&\\)$")
  execute_process(COMMAND "${NM}" --defined-only --extern-only --demangle --format=posix "${object}"
                  OUTPUT_VARIABLE listing RESULT_VARIABLE status ERROR_VARIABLE errors)
  if(NOT status EQUAL 0)
    string(APPEND bad "\n  ${object}: nm failed: ${errors}")
    continue()
  endif()
  string(REPLACE "\n" ";" lines "${listing}")
  set(entry_points 0)
  foreach(line ${lines})
    # posix format: "<name> <type> <value> <size>"; the name may hold spaces, so take the type from the end.
    if(NOT line MATCHES "^(.*) ([A-Za-z]) [0-9a-fA-F]*( [0-9a-fA-F]+)?$")
      string(APPEND bad "\n  ${name}.o: nm printed a line this does not read: ${line}")
      continue()
    endif()
    set(symbol "${CMAKE_MATCH_2} ${CMAKE_MATCH_1}")
    set(ok FALSE)
    foreach(pattern ${allowed})
      if(symbol MATCHES "${pattern}")
        set(ok TRUE)
      endif()
    endforeach()
    if(ok)
      math(EXPR entry_points "${entry_points} + 1")
    else()
      string(APPEND bad "\n  ${name}.o exports: ${symbol}")
    endif()
  endforeach()
  if(entry_points EQUAL 0)
    string(APPEND bad "\n  ${name}.o exports none of its entry points (is nm's output format what this expects?)")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "level objects export more than their entry points; make these local (hidden, or in an "
                      "unnamed namespace) so no code outside the level links to them:${bad}")
endif()
message("level_symbols: only entry points exported by ${objects}")
