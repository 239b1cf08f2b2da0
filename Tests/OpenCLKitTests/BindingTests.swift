import OpenCLKit
import Testing

private let source = """
    __kernel void saxpy(const int n, const float a, __global const float *x, __global float *y) {
      int i = get_global_id(0);
      if (i < n) y[i] = a * x[i] + y[i];
    }
    __kernel void widths(const long a, const uint b, const ulong c, __global long *out) {
      out[0] = a + (long)b;
      out[1] = (long)(c >> 1);
    }
    __kernel void group_sum(__global const int *x, __global int *sums, __local int *scratch, const int scale) {
      size_t l = get_local_id(0);
      scratch[l] = x[get_global_id(0)];
      barrier(CLK_LOCAL_MEM_FENCE);
      if (l == 0) {
        int s = 0;
        for (size_t k = 0; k < get_local_size(0); ++k) s += scratch[k];
        sums[get_group_id(0)] = scale * s;
      }
    }
    """

@Suite(.serialized, .requiresOpenCLDevice)
struct BindingTests {
    let device: CLDevice
    let context: CLContext
    let queue: CLCommandQueue
    let program: CLProgram

    init() throws {
        device = try #require(OpenCLEnvironment.device, "CI is set, but no OpenCL device was found")
        context = try CLContext.shared(for: device)
        queue = try CLCommandQueue(context: context)
        program = try CLProgram(context: context, source: source)
    }

    @Test func argumentCountComesFromTheKernel() throws {
        #expect(try CLKernel(program: program, name: "saxpy").argumentCount == 4)
        #expect(try CLKernel(program: program, name: "group_sum").argumentCount == 4)
    }

    @Test func wrongArgumentCountThrowsNamingTheKernel() throws {
        let kernel = try CLKernel(program: program, name: "saxpy")
        let y = try CLBuffer(context: context, byteCount: 16)
        let tooFew = try #require(throws: CLError.self) { try kernel.bind(Int32(4), Float(1), y) }
        print(tooFew)
        #expect(tooFew.code == CLError.invalidKernelArgs && tooFew.name == "CL_INVALID_KERNEL_ARGS")
        #expect(tooFew.description.contains("kernel saxpy takes 4 arguments"))
        #expect(tooFew.description.contains("bind was given 3"))
        let tooMany = try #require(throws: CLError.self) { try kernel.bind(Int32(4), Float(1), y, y, Int32(0)) }
        #expect(
            tooMany.code == CLError.invalidKernelArgs && tooMany.description.contains("saxpy")
                && tooMany.description.contains("given 5"))
        let launched = try #require(throws: CLError.self) {
            try queue.launch(kernel, global: [4], local: [1], Int32(4))
        }
        #expect(launched.code == CLError.invalidKernelArgs && launched.description.contains("given 1"))
    }

    @Test func wrongArgumentSizeNamesKernelAndIndex() throws {
        let kernel = try CLKernel(program: program, name: "saxpy")
        let y = try CLBuffer(context: context, byteCount: 16)
        let error = try #require(throws: CLError.self) { try kernel.bind(Int64(4), Float(1), y, y) }
        #expect(error.code == CLError.invalidArgSize && error.call == "clSetKernelArg")
        #expect(error.description.contains("kernel saxpy, argument 0"))
    }

    @Test func boundKernelComputes() throws {
        let n = 64
        let kernel = try CLKernel(program: program, name: "saxpy")
        let x = try CLBuffer(context: context, copying: (0..<n).map { Float($0) }, access: .readOnly)
        let y = try CLBuffer(context: context, copying: (0..<n).map { Float(2 * $0) })
        try kernel.bind(Int32(n), Float(3), x, y)
        try queue.enqueue(kernel, global: [n], local: [16])
        #expect(try queue.read(y, as: Float.self, count: n) == (0..<n).map { Float(5 * $0) })
        // A re-bind per launch, and one argument changed alone.
        try queue.launch(kernel, global: [n], local: [16], Int32(n), Float(-1), x, y)
        #expect(try queue.read(y, as: Float.self, count: n) == (0..<n).map { Float(4 * $0) })
        try kernel.setArgument(1, Float(0.5))
        try queue.enqueue(kernel, global: [n], local: [16])
        #expect(try queue.read(y, as: Float.self, count: n) == (0..<n).map { Float(4 * $0) + Float($0) / 2 })

        let widths = try CLKernel(program: program, name: "widths")
        let out = try CLBuffer(context: context, byteCount: 2 * MemoryLayout<Int64>.stride)
        try queue.launch(widths, global: [1], local: [1], Int64(1) << 40, UInt32.max, UInt64.max, out)
        #expect(
            try queue.read(out, as: Int64.self, count: 2) == [
                (Int64(1) << 40) + Int64(UInt32.max), Int64(UInt64.max >> 1)
            ])
    }

    @Test func localMemoryMarker() throws {
        let kernel = try CLKernel(program: program, name: "group_sum")
        let values = (0..<64).map { Int32($0) }
        let sums = try CLBuffer(context: context, byteCount: 4 * MemoryLayout<Int32>.stride)
        try queue.launch(
            kernel, global: [64], local: [16],
            try CLBuffer(context: context, copying: values), sums, CLLocal(bytes: 16 * MemoryLayout<Int32>.stride),
            Int32(2))
        #expect(
            try queue.read(sums, as: Int32.self, count: 4)
                == (0..<4).map { g in 2 * values[(16 * g)..<(16 * g + 16)].reduce(0, +) })
    }

    @Test func sharedContextIsOnePerDevice() throws {
        let again = try CLContext.shared(for: device)
        #expect(again === context && again.device == device)
        #expect(try CLContext(device: device) !== context)
    }
}
