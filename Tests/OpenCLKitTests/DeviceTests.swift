import OpenCLKit
import Testing

private let saxpySource = """
    __kernel void saxpy(const int n, const float a, __global const float *x, __global float *y) {
      int i = get_global_id(0);
      if (i < n) y[i] = a * x[i] + y[i];
    }
    """

@Suite(.serialized, .requiresOpenCLDevice)
struct DeviceTests {
    let device: CLDevice
    let context: CLContext
    let queue: CLCommandQueue

    init() throws {
        device = try #require(OpenCLEnvironment.device, "CI is set, but no OpenCL device was found")
        context = try CLContext(device: device)
        queue = try CLCommandQueue(context: context)
    }

    @Test func deviceInfoIsSane() throws {
        #expect(!device.name.isEmpty)
        #expect(device.computeUnits > 0)
        #expect(device.version.hasPrefix("OpenCL "))
        #expect(device.openCLCVersion.hasPrefix("OpenCL C "))
        #expect(device.globalMemorySize > 0)
        #expect(device.maxAllocationSize > 0 && device.maxAllocationSize <= device.globalMemorySize)
        #expect(device.localMemorySize > 0)
        #expect(device.maxWorkGroupSize > 0)
        #expect(device.maxWorkItemSizes.count >= 3 && device.maxWorkItemSizes.allSatisfy { $0 > 0 })
        #expect(!device.extensions.isEmpty)
        #expect(try device.platform.devices().contains(device))
        #expect(context.device == device && queue.context === context)
    }

    @Test func failingBuildCarriesLogAndOptions() throws {
        let source = "__kernel void broken(__global float *x) { x[0] = undeclared_identifier_42; }"
        let error = try #require(throws: CLError.self) {
            _ = try CLProgram(context: context, source: source, options: "-DUNUSED=1")
        }
        print(error)
        #expect(error.code == CLError.buildProgramFailure)
        #expect(error.name == "CL_BUILD_PROGRAM_FAILURE")
        #expect(error.call == "clBuildProgram")
        #expect(error.options == "-DUNUSED=1")
        let log = try #require(error.buildLog)
        #expect(log.contains("undeclared_identifier_42"))
        #expect(
            error.description.hasPrefix(
                "clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE (-11)\nbuild options: -DUNUSED=1\nbuild log:\n"))
    }

    @Test func wrongKernelNameIsInvalidKernelName() throws {
        let program = try CLProgram(context: context, source: saxpySource)
        #expect(try program.kernelNames() == ["saxpy"])
        let error = try #require(throws: CLError.self) { _ = try CLKernel(program: program, name: "saxpi") }
        print(error)
        #expect(error.code == -46 && error.code == CLError.invalidKernelName)
        #expect(error.name == "CL_INVALID_KERNEL_NAME")
        #expect(error.description.contains("\"saxpi\""))
    }

    @Test func writeReadRoundTrips() throws {
        try roundTrip(
            (0..<257).map { Float($0) * 0.5 - 3 } + [.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
        try roundTrip((0..<100).map { Int32($0) * -7919 } + [.min, .max])
        try roundTrip([UInt8](0...255))
        if device.supportsFP64 {
            try roundTrip([Double.pi, -1e300, .leastNonzeroMagnitude, 0, 1 / 3])
        } else {
            print("Double round trip skipped: \(device.name) has no fp64")
        }

        let buffer = try CLBuffer(context: context, copying: [Int32](repeating: 0, count: 10))
        try queue.write(buffer, from: [Int32(1), 2, 3], offset: 4)
        #expect(try queue.read(buffer, as: Int32.self, count: 10) == [0, 0, 0, 0, 1, 2, 3, 0, 0, 0])
        #expect(try queue.read(buffer, as: Int32.self, count: 2, offset: 5) == [2, 3])
        var tail = [Int32](repeating: -1, count: 4)
        try queue.read(buffer, into: &tail, offset: 6)
        #expect(tail == [3, 0, 0, 0])

        let empty = try CLBuffer(context: context, copying: [Float]())
        #expect(empty.byteCount == 0)
        try queue.write(empty, from: [Float]())
        #expect(try queue.read(empty, as: Float.self, count: 0) == [])
    }

    private func roundTrip<T: BitwiseCopyable & Equatable>(_ values: [T]) throws {
        let buffer = try CLBuffer(context: context, byteCount: values.count * MemoryLayout<T>.stride)
        #expect(buffer.context === context && buffer.byteCount == values.count * MemoryLayout<T>.stride)
        try queue.write(buffer, from: values)
        var readBack = [T](repeating: values[0], count: values.count)
        readBack[values.count - 1] = values[0]
        try queue.read(buffer, into: &readBack)
        #expect(readBack == values, "\(T.self) via read(_:into:)")
        #expect(try queue.read(buffer, as: T.self, count: values.count) == values, "\(T.self) via read(_:as:count:)")
        let copied = try CLBuffer(context: context, copying: values, access: .readOnly)
        #expect(try queue.read(copied, as: T.self, count: values.count) == values, "\(T.self) via CL_MEM_COPY_HOST_PTR")
    }

    @Test func saxpyWithPaddedGlobalSizeLeavesCanariesAlone() throws {
        let n = 1001
        let canaries = 64
        let sentinel: Float = -12345
        let program = try CLProgram(context: context, source: saxpySource)
        let kernel = try CLKernel(program: program, name: "saxpy")
        #expect(kernel.program === program && kernel.name == "saxpy" && program.context === context)
        var local = 1
        while local * 2 <= min(64, try kernel.maxWorkGroupSize(on: device)) { local *= 2 }
        let global = (n + local - 1) / local * local
        try #require(global != n && global - n < canaries, "global \(global), local \(local)")

        let x = try CLBuffer(
            context: context, copying: (0..<n).map { Float($0) } + Array(repeating: sentinel, count: canaries),
            access: .readOnly)
        let y = try CLBuffer(
            context: context, copying: (0..<n).map { Float(2 * $0) } + Array(repeating: sentinel, count: canaries))
        try kernel.setArgument(0, Int32(n))
        try kernel.setArgument(1, Float(3))
        try kernel.setArgument(2, x)
        try kernel.setArgument(3, y)
        try queue.enqueue(kernel, global: [global], local: [local])
        try queue.flush()
        try queue.finish()

        let result = try queue.read(y, as: Float.self, count: n + canaries)
        #expect(Array(result[..<n]) == (0..<n).map { Float(5 * $0) })
        #expect(result[n...].allSatisfy { $0 == sentinel }, "canaries past n were touched")

        let error = try #require(throws: CLError.self) { try kernel.setArgument(0, Int64(n)) }
        #expect(error.code == CLError.invalidArgSize && error.call == "clSetKernelArg")
    }

    @Test func fillSetsEveryElement() throws {
        let buffer = try CLBuffer(context: context, byteCount: 4000)
        try queue.fill(buffer, with: Float(2.5))
        #expect(try queue.read(buffer, as: Float.self, count: 1000).allSatisfy { $0 == 2.5 })
        try queue.fill(buffer, with: Int32(-3))
        #expect(try queue.read(buffer, as: Int32.self, count: 1000).allSatisfy { $0 == -3 })
        try queue.fill(buffer, with: UInt8(0xAB))
        #expect(try queue.read(buffer, as: UInt8.self, count: 4000).allSatisfy { $0 == 0xAB })
        try queue.fill(try CLBuffer(context: context, byteCount: 0), with: Double(1))
    }

    @Test func localMemoryAndTwoDimensionalRanges() throws {
        let program = try CLProgram(
            context: context,
            source: """
                __kernel void group_sum(__global const int *x, __global int *sums, __local int *scratch) {
                  size_t l = get_local_id(0);
                  scratch[l] = x[get_global_id(0)];
                  barrier(CLK_LOCAL_MEM_FENCE);
                  if (l == 0) {
                    int s = 0;
                    for (size_t k = 0; k < get_local_size(0); ++k) s += scratch[k];
                    sums[get_group_id(0)] = s;
                  }
                }
                __kernel void coords(__global int *out, const int width) {
                  int gx = get_global_id(0), gy = get_global_id(1);
                  out[gy * width + gx] = gx * 100 + gy;
                }
                """)
        #expect(try program.kernelNames().sorted() == ["coords", "group_sum"])

        let sum = try CLKernel(program: program, name: "group_sum")
        #expect(try sum.preferredWorkGroupSizeMultiple(on: device) > 0)
        let values = (0..<64).map { Int32($0) }
        let sums = try CLBuffer(context: context, byteCount: 4 * MemoryLayout<Int32>.stride)
        try sum.setArgument(0, try CLBuffer(context: context, copying: values))  // kept alive by the kernel
        try sum.setArgument(1, sums)
        try sum.setLocalArgument(2, byteCount: 16 * MemoryLayout<Int32>.stride)
        try queue.enqueue(sum, global: [64], local: [16])
        #expect(
            try queue.read(sums, as: Int32.self, count: 4)
                == (0..<4).map { g in values[(16 * g)..<(16 * g + 16)].reduce(0, +) })

        let coords = try CLKernel(program: program, name: "coords")
        let out = try CLBuffer(context: context, byteCount: 8 * 4 * MemoryLayout<Int32>.stride)
        try coords.setArgument(0, out)
        try coords.setArgument(1, Int32(8))
        try queue.enqueue(coords, global: [8, 4], local: [4, 2])
        #expect(try queue.read(out, as: Int32.self, count: 32) == (0..<32).map { Int32(($0 % 8) * 100 + $0 / 8) })
    }
}

/// A failing wait (here a read refused by the driver) names the kernels enqueued since the last completed wait: a
/// device reports a failed kernel only at such a later call.
@Suite(.serialized, .requiresOpenCLDevice)
struct PendingKernelTests {
    @Test func aFailedWaitNamesThePendingKernels() throws {
        let device = try #require(OpenCLEnvironment.device, "CI is set, but no OpenCL device was found")
        let context = try CLContext(device: device)
        let queue = try CLCommandQueue(context: context)
        let kernel = try CLKernel(program: try CLProgram(context: context, source: saxpySource), name: "saxpy")
        let x = try CLBuffer(context: context, copying: [Float](repeating: 1, count: 16))
        let y = try CLBuffer(context: context, copying: [Float](repeating: 2, count: 16))
        try kernel.bind(Int32(16), Float(3), x, y)
        try queue.enqueue(kernel, global: [16], local: [16])
        try queue.enqueue(kernel, global: [16], local: [16])
        #expect(queue.pendingKernels == ["saxpy"])
        // A buffer of another context: the read fails (CL_INVALID_CONTEXT) with the kernel still pending.
        let foreign = try CLBuffer(context: try CLContext(device: device), byteCount: 64)
        let error = try #require(throws: CLError.self) { _ = try queue.read(foreign, as: Float.self, count: 16) }
        #expect(error.call == "clEnqueueReadBuffer")
        #expect(error.description.contains("kernels enqueued since the last completed wait: saxpy"), "\(error)")
        try queue.finish()
        #expect(queue.pendingKernels.isEmpty)
        #expect(try queue.read(y, as: Float.self, count: 16).allSatisfy { $0 == 8 })
    }
}
