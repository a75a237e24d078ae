# LibTorch 2.x's headers take about 13 s of a compiler's time to parse in every translation unit
# that includes them. Each target that includes them precompiles them once (a PCH cannot be shared
# between targets with different flags) for its C++ sources; the CUDA sources never see them.
option(BOOSTHEAD_PCH "Precompile LibTorch's headers for each target" ON)
function(boosthead_torch_pch target)
  if(BOOSTHEAD_PCH)
    target_precompile_headers(${target} PRIVATE
      "$<$<COMPILE_LANGUAGE:CXX>:<torch/script.h$<ANGLE-R>>"
      "$<$<COMPILE_LANGUAGE:CXX>:<ATen/Parallel.h$<ANGLE-R>>")
  endif()
endfunction()
