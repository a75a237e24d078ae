# Whether the CUDA stage kernels (src/stage/cuda/*.cu) are compiled: they need a CUDA build of
# torch (its torch_cuda target) and nvcc. AUTO builds them when both are there; ON fails without
# them. Without the kernels, CUDA tensors still train through the ATen evaluator.
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
# The architectures are a variable of our own: torch's config resets CMAKE_CUDA_ARCHITECTURES to
# OFF whenever it is defined (with a warning that it ignores it), so a value given there would be
# lost. The default: sm_90 machine code (H100, H200) and its PTX, which newer cards compile at load.
set(BOOSTHEAD_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING
    "CUDA architectures of the stage kernels (CMake's CUDA_ARCHITECTURES syntax)")
if(BOOSTHEAD_WITH_CUDA)
  # Torch's config also appends -gencode flags for every card it was built for, some older than
  # nvcc 13 accepts; the target's CUDA_ARCHITECTURES alone decide.
  string(REGEX REPLACE "-gencode[ =;]*arch=[^ ;]+" "" CMAKE_CUDA_FLAGS "${CMAKE_CUDA_FLAGS}")
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  if(BOOSTHEAD_CCACHE AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${BOOSTHEAD_CCACHE})
  endif()
endif()
message(STATUS "boosthead: CUDA kernels ${BOOSTHEAD_WITH_CUDA} (BOOSTHEAD_CUDA=${BOOSTHEAD_CUDA}, "
               "architectures ${BOOSTHEAD_CUDA_ARCHITECTURES})")
