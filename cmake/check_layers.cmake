# The library's folders are layers, and an #include may only point down (README, "What is
# inside"):
#   core <- data;   core <- autograd <- nn <- optim;   autograd <- dist;   nn <- models;
#   core, data <- pictures;   everything <- app
# Run by the build before the library compiles (CMakeLists.txt, target gg_layers): an include
# that points up stops the build here, naming the file, the line and the rule it breaks.
#   cmake -DGG_ROOT=<source dir> -DSTAMP=<file to touch on success> -P cmake/check_layers.cmake
cmake_minimum_required(VERSION 3.20)  # IN_LIST
set(allowed_core core)
set(allowed_data core data)
set(allowed_autograd core autograd)
set(allowed_nn core autograd nn)
set(allowed_optim core autograd nn optim)
set(allowed_dist core autograd dist)
set(allowed_models core autograd nn models)
set(allowed_pictures core data pictures)
set(allowed_app core data autograd nn optim dist models pictures app)
set(layers core data autograd nn optim dist models pictures app)

set(errors "")
foreach(layer ${layers})
  file(GLOB files ${GG_ROOT}/${layer}/*.h ${GG_ROOT}/${layer}/*.cpp)
  foreach(path ${files})
    # One list element per line: the characters a CMake list treats specially (';', brackets,
    # backslashes) are replaced first, so that no line merges with the next.
    file(READ ${path} text)
    string(REPLACE "\\" "/" text "${text}")
    string(REPLACE ";" "," text "${text}")
    string(REPLACE "[" "(" text "${text}")
    string(REPLACE "]" ")" text "${text}")
    string(REPLACE "\n" ";" lines "${text}")
    set(number 0)
    foreach(line IN LISTS lines)
      math(EXPR number "${number} + 1")
      if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"([^\"/]+)/")
        set(target ${CMAKE_MATCH_1})
        if(target IN_LIST layers AND NOT target IN_LIST allowed_${layer})
          file(RELATIVE_PATH relative ${GG_ROOT} ${path})
          string(APPEND errors "  ${relative}:${number}: ${layer}/ includes ${target}/ (${layer}/ may include only: ${allowed_${layer}})\n")
        endif()
      elseif(line MATCHES "^[ \t]*#[ \t]*include[ \t]*\"glassgrad.h\"")
        file(RELATIVE_PATH relative ${GG_ROOT} ${path})
        string(APPEND errors "  ${relative}:${number}: ${layer}/ includes glassgrad.h, which includes every layer\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(errors)
  message(FATAL_ERROR "glassgrad's layers: an include points up\n${errors}")
endif()
file(TOUCH ${STAMP})
