// OpenCL headers for Swift. clCreateCommandQueue (1.2) is used so that 1.2-only drivers work too.
#ifndef DLNSIM_COPENCL_SHIM_H
#define DLNSIM_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <CL/cl_ext.h>
#endif
