// OpenCL headers for Swift. clCreateCommandQueue (1.2) is used so that 1.2-only drivers work too.
// The functions are not linked from libOpenCL: loader.c opens the ICD loader at run time (dlopen), so that dlnsim
// starts, and its CPU engine runs, on a machine without OpenCL.
#ifndef DLNSIM_COPENCL_SHIM_H
#define DLNSIM_COPENCL_SHIM_H
#define CL_TARGET_OPENCL_VERSION 300
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <CL/cl_ext.h>

/// Why the OpenCL library could not be loaded (dlerror's text), or NULL once it is loaded.
const char *dlnsim_opencl_load_error(void);
#endif
