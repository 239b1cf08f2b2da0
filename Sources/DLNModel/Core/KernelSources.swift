/// The OpenCL C sources of Kernels/ (the device twins of this target's CPU code), embedded in the binary so that a
/// copied release binary runs anywhere. The OpenCL engine (DLNDevice's `KernelLibrary`) builds them; a model
/// family names its own file (`ModelFamily.kernelFile`, `kernelSource`), so adding a family adds no entry here.
public enum KernelSources {
    /// The bytes of kernel file `file` (nil: no such file).
    public static func embedded(_ file: String) -> [UInt8]? {
        switch file {
        case "common.cl": PackageResources.common_cl
        case "residual.cl": PackageResources.residual_cl
        case "gradient.cl": PackageResources.gradient_cl
        case "update.cl": PackageResources.update_cl
        case "loss.cl": PackageResources.loss_cl
        case "observe.cl": PackageResources.observe_cl
        case "peak.cl": PackageResources.peak_cl
        case "products_v16.cl": PackageResources.products_v16_cl
        case "replica_v16.cl": PackageResources.replica_v16_cl
        case "tiled.cl": PackageResources.tiled_cl
        case "flow.cl": PackageResources.flow_cl
        case "stochastic.cl": PackageResources.stochastic_cl
        case "momentum.cl": PackageResources.momentum_cl
        case "dmft.cl": PackageResources.dmft_cl
        case "curvature.cl": PackageResources.curvature_cl
        case "matrix.cl": PackageResources.matrix_cl
        case "matrix_v16.cl": PackageResources.matrix_v16_cl
        case "matrix_sensing.cl": PackageResources.matrix_sensing_cl
        case "matrix_sgd.cl": PackageResources.matrix_sgd_cl
        default: Parameterization.allCases.lazy.map(\.family).first { $0.kernelFile == file }?.kernelSource
        }
    }
}
