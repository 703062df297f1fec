# Every dependency is a Debian 12 package. A missing one stops configuration with the
# package to install, instead of a compiler error later.
include(GNUInstallDirs)

function(gg_missing what package)
  message(FATAL_ERROR "glassgrad: ${what} was not found. Install it with:\n"
                      "  sudo apt-get install ${package}\n"
                      "(or run scripts/test.sh, which installs everything glassgrad needs)")
endfunction()

# OpenBLAS, the OpenMP build: BLAS then runs on the same OpenMP thread pool as our own
# kernels, and a BLAS call inside one of our parallel regions stays on one thread.
find_package(OpenBLAS CONFIG QUIET)
if(NOT OpenBLAS_FOUND)
  gg_missing("OpenBLAS" "libopenblas-openmp-dev")
endif()
if(NOT OpenBLAS_LIBRARIES MATCHES "openmp")
  message(WARNING "glassgrad: OpenBLAS at ${OpenBLAS_LIBRARIES} is not the OpenMP build; BLAS and glassgrad "
                  "will use separate thread pools. Install libopenblas-openmp-dev and select it with "
                  "update-alternatives --config libopenblas.so.0-x86_64-linux-gnu")
endif()

# oneDNN (GG_GEMM=onednn, the default): float32 matrix products, with kernels for every x86
# CPU it knows, AVX-512 included. Linked by full path, like OpenBLAS: its own package config
# also looks for OpenCL, which glassgrad does not use. -DGG_GEMM=openblas builds without it.
if(GG_GEMM STREQUAL "onednn")
  find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
  find_library(DNNL_LIBRARY dnnl)
  if(NOT DNNL_INCLUDE_DIR OR NOT DNNL_LIBRARY)
    gg_missing("oneDNN (for -DGG_GEMM=onednn; -DGG_GEMM=openblas builds without it)" "libdnnl-dev")
  endif()
  file(STRINGS ${DNNL_INCLUDE_DIR}/oneapi/dnnl/dnnl_config.h DNNL_RUNTIME REGEX "define DNNL_CPU_RUNTIME ")
  if(NOT DNNL_RUNTIME MATCHES "DNNL_RUNTIME_OMP")
    message(WARNING "glassgrad: oneDNN at ${DNNL_LIBRARY} is not built on OpenMP; it and glassgrad "
                    "will use separate thread pools")
  endif()
elseif(NOT GG_GEMM STREQUAL "openblas")
  message(FATAL_ERROR "glassgrad: GG_GEMM is '${GG_GEMM}'; expected onednn or openblas")
endif()

# Open MPI (dist/: data-parallel training over several processes and machines), optional:
# GG_MPI is on when it is found. Asked for with -DGG_MPI=ON, a missing MPI stops configuration.
# MPI's C interface, called from C++ (the deprecated C++ bindings are skipped).
set(MPI_CXX_SKIP_MPICXX ON)
find_package(MPI QUIET COMPONENTS CXX)
if(NOT DEFINED GG_MPI)
  if(MPI_CXX_FOUND)
    set(GG_MPI ON CACHE BOOL "Data-parallel training over MPI (libopenmpi-dev)")
  else()
    set(GG_MPI OFF CACHE BOOL "Data-parallel training over MPI (libopenmpi-dev)")
  endif()
elseif(GG_MPI AND NOT MPI_CXX_FOUND)
  gg_missing("MPI (for GG_MPI; -DGG_MPI=OFF builds without it)" "libopenmpi-dev openmpi-bin")
endif()
if(GG_MPI)
  find_program(GG_MPIEXEC NAMES mpirun mpiexec)
  if(NOT GG_MPIEXEC)
    gg_missing("mpirun (to run the data-parallel tests)" "openmpi-bin")
  endif()
endif()

find_package(OpenMP QUIET COMPONENTS CXX)
if(NOT OpenMP_CXX_FOUND)
  gg_missing("OpenMP" "libgomp1 (comes with g++) or libomp-dev")
endif()

find_package(fmt CONFIG QUIET)
if(NOT fmt_FOUND)
  gg_missing("fmt" "libfmt-dev")
endif()

# JSON: safetensors headers, config files, metrics logs, test fixtures.
find_package(nlohmann_json 3 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  gg_missing("nlohmann-json" "nlohmann-json3-dev")
endif()

if(GG_BUILD_EXAMPLES)
  find_package(CLI11 CONFIG QUIET)  # build/bin/translate's command line
  if(NOT CLI11_FOUND)
    gg_missing("CLI11" "libcli11-dev")
  endif()
endif()

if(GG_BUILD_TESTS)
  find_package(Catch2 2 CONFIG QUIET)
  if(NOT Catch2_FOUND)
    gg_missing("Catch2 v2" "catch2")
  endif()
endif()

# stb_image_write (pictures/plot.cpp: the PNG attention pictures), header-only.
find_path(STB_INCLUDE_DIR stb/stb_image_write.h)
if(NOT STB_INCLUDE_DIR)
  gg_missing("stb_image_write (stb/stb_image_write.h)" "libstb-dev")
endif()

# SentencePiece (data/sentencepiece.cpp), found through pkg-config. glassgrad links it by
# full path (SENTENCEPIECE_LINK_LIBRARIES) rather than as PkgConfig::SENTENCEPIECE, as it
# does OpenBLAS: the exported static library then needs no imported target in consumers.
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  gg_missing("pkg-config (used to find SentencePiece)" "pkg-config")
endif()
pkg_check_modules(SENTENCEPIECE QUIET sentencepiece)
if(NOT SENTENCEPIECE_FOUND)
  gg_missing("SentencePiece" "libsentencepiece-dev")
endif()

# OpenSSL's libcrypto (core/file_io.cpp): the SHA-256 that checkpoint manifests and saved splits
# record of every file. Linked by full path, like SentencePiece.
find_package(OpenSSL QUIET COMPONENTS Crypto)
if(NOT OpenSSL_FOUND OR NOT OPENSSL_CRYPTO_LIBRARY)
  gg_missing("OpenSSL's libcrypto" "libssl-dev")
endif()
