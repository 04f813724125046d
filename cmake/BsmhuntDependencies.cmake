# Third-party dependencies. Every failure here names the Debian package to install
# (tools/setup installs all of them).

find_package(MPI REQUIRED COMPONENTS C CXX)

# Debian ships serial and Open MPI HDF5 side by side; we need the parallel one.
# A cached build directory keeps the first choice, so check the result every time.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "bsmhunt needs parallel HDF5 but CMake found a serial HDF5 (${HDF5_C_INCLUDE_DIRS}). "
    "Install libhdf5-openmpi-dev (tools/setup does) and configure a fresh build directory.")
endif()

find_package(Boost 1.74 REQUIRED COMPONENTS program_options)  # Boost.Math (header-only) comes with Boost::headers
# Ceres Solver minimises the sideband fits of the stats layer (Debian libceres-dev).
find_package(Ceres 2.0 QUIET)
if(NOT Ceres_FOUND)
  message(FATAL_ERROR "Ceres Solver not found: install libceres-dev (tools/setup does)")
endif()
find_package(fmt REQUIRED)
# JSON documents (results, manifests, HistFactory workspaces): Debian nlohmann-json3-dev.
find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "nlohmann/json not found: install nlohmann-json3-dev (tools/setup does)")
endif()
find_package(BLAS REQUIRED)   # OpenBLAS through the Debian alternatives
find_package(GTest)
find_package(Threads REQUIRED)

# XGBoost (the BDT baseline in nn) through its C API; Debian ships no CMake config for it.
find_library(XGBOOST_LIBRARY xgboost)
find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h)
if(NOT XGBOOST_LIBRARY OR NOT XGBOOST_INCLUDE_DIR)
  message(FATAL_ERROR "XGBoost not found (library: ${XGBOOST_LIBRARY}, header xgboost/c_api.h: ${XGBOOST_INCLUDE_DIR}): "
                      "install libxgboost-dev (tools/setup does)")
endif()

# FastJet (anti-kT jets from the particles of the mono-jet channel): Debian libfastjet-dev.
find_library(FASTJET_LIBRARY fastjet)
find_path(FASTJET_INCLUDE_DIR fastjet/ClusterSequence.hh)
if(NOT FASTJET_LIBRARY OR NOT FASTJET_INCLUDE_DIR)
  message(FATAL_ERROR "FastJet not found: install libfastjet-dev (tools/setup does)")
endif()

# libdeflate: HDF5's deflate filter compresses each chunk with zlib's compress2;
# src/io/FastDeflate.cpp provides compress2 through libdeflate, ~2x faster at the
# same level and format (any zlib inflate reads it). Debian libdeflate-dev.
find_library(LIBDEFLATE_LIBRARY deflate)
find_path(LIBDEFLATE_INCLUDE_DIR libdeflate.h)
if(NOT LIBDEFLATE_LIBRARY OR NOT LIBDEFLATE_INCLUDE_DIR)
  message(FATAL_ERROR "libdeflate not found: install libdeflate-dev (tools/setup does)")
endif()

# CUDA: optional and auto-detected. Where nvcc exists the nn_cuda layer is compiled
# and linked; where it does not, a NoCuda implementation is linked that throws.
set(BSMHUNT_HAVE_CUDA OFF)
if(NOT BSMHUNT_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Hopper for the lent H100/H200; override with -DCMAKE_CUDA_ARCHITECTURES.
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    find_library(BSMHUNT_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    find_path(BSMHUNT_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    if(NOT BSMHUNT_NCCL_LIBRARY OR NOT BSMHUNT_NCCL_INCLUDE)
      message(FATAL_ERROR "nvcc found but NCCL is missing under ${CUDAToolkit_LIBRARY_DIR}")
    endif()
    # cuDNN: the convolutions of the CNNs (analysis E) on GPUs.
    find_library(BSMHUNT_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
    find_path(BSMHUNT_CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    if(NOT BSMHUNT_CUDNN_LIBRARY OR NOT BSMHUNT_CUDNN_INCLUDE)
      message(FATAL_ERROR "nvcc found but cuDNN is missing under ${CUDAToolkit_LIBRARY_DIR}")
    endif()
    set(BSMHUNT_HAVE_CUDA ON)
  elseif(BSMHUNT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "BSMHUNT_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "bsmhunt: CUDA backend ${BSMHUNT_HAVE_CUDA}; HDF5 ${HDF5_VERSION} parallel=${HDF5_IS_PARALLEL}")
