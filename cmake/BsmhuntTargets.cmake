# Helpers shared by every layer target.

add_library(bsmhunt_warnings INTERFACE)
target_compile_options(bsmhunt_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${BSMHUNT_WERROR}>>:-Werror>
  # GCC 12 at -O3 reports std::string concatenation as overlapping memcpy (GCC bug 105329).
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>)
if(BSMHUNT_SANITIZE)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined> $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
endif()
# The fuzz preset (clang): every library carries libFuzzer's coverage hooks and the
# sanitizers; fuzz/ links the harnesses with -fsanitize=fuzzer, the tests link as usual.
if(BSMHUNT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BSMHUNT_FUZZ needs clang (libFuzzer): configure with the fuzz preset")
  endif()
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>)
  add_link_options(-fsanitize=address,undefined)
endif()

# bsmhunt_layer(NAME DEPS ...): a static library from src/<name>/*.cpp with the
# public headers of include/bsmhunt/<name>.
function(bsmhunt_layer name)
  cmake_parse_arguments(L "" "" "DEPS;PRIVATE_DEPS;SOURCES" ${ARGN})
  if(NOT L_SOURCES)
    file(GLOB_RECURSE L_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  endif()
  add_library(bsmhunt_${name} STATIC ${L_SOURCES})
  add_library(bsmhunt::${name} ALIAS bsmhunt_${name})
  target_include_directories(bsmhunt_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(bsmhunt_${name} PUBLIC ${L_DEPS} PRIVATE bsmhunt_warnings ${L_PRIVATE_DEPS})
  set_target_properties(bsmhunt_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()
