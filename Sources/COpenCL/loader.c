/* loader.c: the OpenCL C API, loaded at run time.
 *
 * dlnsim does not link libOpenCL: the first OpenCL call opens the ICD loader with dlopen (DLNSIM_OPENCL_LIBRARY if
 * set, else libOpenCL.so.1, else libOpenCL.so) and every function below forwards to the symbol of the same name
 * there. Without a loader the binary still starts: clGetPlatformIDs reports no platform (CL_PLATFORM_NOT_FOUND_KHR)
 * and the CPU engine runs; dlnsim_opencl_load_error() says why the library was not loaded. The definitions are hidden
 * (not exported from the executable), so that no OpenCL driver loaded later binds its own calls to them.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The system headers come first, so that only the OpenCL declarations are made hidden. */
#pragma GCC visibility push(hidden)
#include "shim.h"
#pragma GCC visibility pop

static void *library;
static char loadError[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    const char *chosen = getenv("DLNSIM_OPENCL_LIBRARY");
    const char *names[] = {chosen && *chosen ? chosen : "libOpenCL.so.1", "libOpenCL.so", NULL};
    for (int i = 0; names[i] != NULL && library == NULL; i++) {
        if (i > 0 && chosen && *chosen) break; /* an explicit choice is not replaced by a guess */
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (library == NULL && i == 0) {
            const char *why = dlerror();
            snprintf(loadError, sizeof loadError, "%s", why ? why : names[0]);
        }
    }
    if (library != NULL) loadError[0] = 0;
}

__attribute__((visibility("hidden"))) const char *dlnsim_opencl_load_error(void) {
    pthread_once(&once, load);
    return library == NULL ? loadError : NULL;
}

static void *symbol(const char *name) {
    pthread_once(&once, load);
    return library == NULL ? NULL : dlsym(library, name);
}

/* A function that returns a cl_int status: CL_PLATFORM_NOT_FOUND_KHR without a loader. */
#define STATUS(name, params, args)                                                                          \
    __attribute__((visibility("hidden"))) cl_int CL_API_CALL name params {                                  \
        typedef cl_int(CL_API_CALL * function) params;                                                      \
        static function cache;                                                                              \
        function f = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);                                             \
        if (f == NULL) {                                                                                    \
            f = (function)symbol(#name);                                                                    \
            __atomic_store_n(&cache, f, __ATOMIC_RELEASE);                                                  \
        }                                                                                                   \
        if (f == NULL) return CL_PLATFORM_NOT_FOUND_KHR;                                                    \
        return f args;                                                                                      \
    }

/* A function that returns an object and reports its status through errcode_ret. */
#define OBJECT(type, name, params, args)                                                                    \
    __attribute__((visibility("hidden"))) type CL_API_CALL name params {                                    \
        typedef type(CL_API_CALL * function) params;                                                        \
        static function cache;                                                                              \
        function f = __atomic_load_n(&cache, __ATOMIC_ACQUIRE);                                             \
        if (f == NULL) {                                                                                    \
            f = (function)symbol(#name);                                                                    \
            __atomic_store_n(&cache, f, __ATOMIC_RELEASE);                                                  \
        }                                                                                                   \
        if (f == NULL) {                                                                                    \
            if (errcode_ret != NULL) *errcode_ret = CL_PLATFORM_NOT_FOUND_KHR;                              \
            return NULL;                                                                                    \
        }                                                                                                   \
        return f args;                                                                                      \
    }

__attribute__((visibility("hidden"))) cl_int CL_API_CALL clGetPlatformIDs(cl_uint num_entries,
                                                                          cl_platform_id *platforms,
                                                                          cl_uint *num_platforms) {
    typedef cl_int(CL_API_CALL * function)(cl_uint, cl_platform_id *, cl_uint *);
    static function f;
    if (f == NULL) f = (function)symbol("clGetPlatformIDs");
    if (f == NULL) {
        if (num_platforms != NULL) *num_platforms = 0;
        return CL_PLATFORM_NOT_FOUND_KHR;
    }
    return f(num_entries, platforms, num_platforms);
}

STATUS(clGetPlatformInfo,
       (cl_platform_id platform, cl_platform_info param_name, size_t param_value_size, void *param_value,
        size_t *param_value_size_ret),
       (platform, param_name, param_value_size, param_value, param_value_size_ret))
STATUS(clGetDeviceIDs,
       (cl_platform_id platform, cl_device_type device_type, cl_uint num_entries, cl_device_id *devices,
        cl_uint *num_devices),
       (platform, device_type, num_entries, devices, num_devices))
STATUS(clGetDeviceInfo,
       (cl_device_id device, cl_device_info param_name, size_t param_value_size, void *param_value,
        size_t *param_value_size_ret),
       (device, param_name, param_value_size, param_value, param_value_size_ret))
OBJECT(cl_context, clCreateContext,
       (const cl_context_properties *properties, cl_uint num_devices, const cl_device_id *devices,
        void(CL_CALLBACK *pfn_notify)(const char *, const void *, size_t, void *), void *user_data,
        cl_int *errcode_ret),
       (properties, num_devices, devices, pfn_notify, user_data, errcode_ret))
STATUS(clReleaseContext, (cl_context context), (context))
OBJECT(cl_command_queue, clCreateCommandQueue,
       (cl_context context, cl_device_id device, cl_command_queue_properties properties, cl_int *errcode_ret),
       (context, device, properties, errcode_ret))
STATUS(clReleaseCommandQueue, (cl_command_queue command_queue), (command_queue))
OBJECT(cl_mem, clCreateBuffer,
       (cl_context context, cl_mem_flags flags, size_t size, void *host_ptr, cl_int *errcode_ret),
       (context, flags, size, host_ptr, errcode_ret))
STATUS(clReleaseMemObject, (cl_mem memobj), (memobj))
OBJECT(cl_program, clCreateProgramWithSource,
       (cl_context context, cl_uint count, const char **strings, const size_t *lengths, cl_int *errcode_ret),
       (context, count, strings, lengths, errcode_ret))
STATUS(clReleaseProgram, (cl_program program), (program))
STATUS(clBuildProgram,
       (cl_program program, cl_uint num_devices, const cl_device_id *device_list, const char *options,
        void(CL_CALLBACK *pfn_notify)(cl_program, void *), void *user_data),
       (program, num_devices, device_list, options, pfn_notify, user_data))
STATUS(clGetProgramInfo,
       (cl_program program, cl_program_info param_name, size_t param_value_size, void *param_value,
        size_t *param_value_size_ret),
       (program, param_name, param_value_size, param_value, param_value_size_ret))
STATUS(clGetProgramBuildInfo,
       (cl_program program, cl_device_id device, cl_program_build_info param_name, size_t param_value_size,
        void *param_value, size_t *param_value_size_ret),
       (program, device, param_name, param_value_size, param_value, param_value_size_ret))
OBJECT(cl_kernel, clCreateKernel, (cl_program program, const char *kernel_name, cl_int *errcode_ret),
       (program, kernel_name, errcode_ret))
STATUS(clReleaseKernel, (cl_kernel kernel), (kernel))
STATUS(clSetKernelArg, (cl_kernel kernel, cl_uint arg_index, size_t arg_size, const void *arg_value),
       (kernel, arg_index, arg_size, arg_value))
STATUS(clGetKernelInfo,
       (cl_kernel kernel, cl_kernel_info param_name, size_t param_value_size, void *param_value,
        size_t *param_value_size_ret),
       (kernel, param_name, param_value_size, param_value, param_value_size_ret))
STATUS(clGetKernelWorkGroupInfo,
       (cl_kernel kernel, cl_device_id device, cl_kernel_work_group_info param_name, size_t param_value_size,
        void *param_value, size_t *param_value_size_ret),
       (kernel, device, param_name, param_value_size, param_value, param_value_size_ret))
STATUS(clFlush, (cl_command_queue command_queue), (command_queue))
STATUS(clFinish, (cl_command_queue command_queue), (command_queue))
STATUS(clEnqueueReadBuffer,
       (cl_command_queue command_queue, cl_mem buffer, cl_bool blocking_read, size_t offset, size_t size, void *ptr,
        cl_uint num_events_in_wait_list, const cl_event *event_wait_list, cl_event *event),
       (command_queue, buffer, blocking_read, offset, size, ptr, num_events_in_wait_list, event_wait_list, event))
STATUS(clEnqueueWriteBuffer,
       (cl_command_queue command_queue, cl_mem buffer, cl_bool blocking_write, size_t offset, size_t size,
        const void *ptr, cl_uint num_events_in_wait_list, const cl_event *event_wait_list, cl_event *event),
       (command_queue, buffer, blocking_write, offset, size, ptr, num_events_in_wait_list, event_wait_list, event))
STATUS(clEnqueueFillBuffer,
       (cl_command_queue command_queue, cl_mem buffer, const void *pattern, size_t pattern_size, size_t offset,
        size_t size, cl_uint num_events_in_wait_list, const cl_event *event_wait_list, cl_event *event),
       (command_queue, buffer, pattern, pattern_size, offset, size, num_events_in_wait_list, event_wait_list, event))
STATUS(clEnqueueNDRangeKernel,
       (cl_command_queue command_queue, cl_kernel kernel, cl_uint work_dim, const size_t *global_work_offset,
        const size_t *global_work_size, const size_t *local_work_size, cl_uint num_events_in_wait_list,
        const cl_event *event_wait_list, cl_event *event),
       (command_queue, kernel, work_dim, global_work_offset, global_work_size, local_work_size,
        num_events_in_wait_list, event_wait_list, event))
