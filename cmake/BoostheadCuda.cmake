# Whether the CUDA stage kernels (src/stage/cuda/*.cu) are compiled: they need a CUDA build of
# torch (its torch_cuda target) and nvcc. AUTO builds them when both are there; ON fails without
# them. Without the kernels, CUDA tensors still train through the ATen evaluator.
# Machine code for sm_90 (H100, H200) and PTX of the same, which newer cards compile at load.
set(BOOSTHEAD_WITH_CUDA OFF)
if(NOT BOOSTHEAD_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(TARGET torch_cuda AND CMAKE_CUDA_COMPILER)
    set(BOOSTHEAD_WITH_CUDA ON)
  elseif(BOOSTHEAD_CUDA STREQUAL "ON")
    message(FATAL_ERROR "BOOSTHEAD_CUDA=ON needs a CUDA build of torch and nvcc "
                        "(torch_cuda target: ${TARGET torch_cuda}, nvcc: '${CMAKE_CUDA_COMPILER}')")
  endif()
endif()
if(BOOSTHEAD_WITH_CUDA)
  # Torch's config appends -gencode flags for every card it was built for, some older than
  # nvcc 13 accepts; the architectures here are CMAKE_CUDA_ARCHITECTURES alone.
  string(REGEX REPLACE "-gencode[ =;]*arch=[^ ;]+" "" CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  if(BOOSTHEAD_CCACHE AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${BOOSTHEAD_CCACHE})
  endif()
endif()
message(STATUS "boosthead: CUDA kernels ${BOOSTHEAD_WITH_CUDA} (BOOSTHEAD_CUDA=${BOOSTHEAD_CUDA}, "
               "architectures ${CMAKE_CUDA_ARCHITECTURES})")
