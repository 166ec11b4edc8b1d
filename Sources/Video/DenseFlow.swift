import Imaging

/// A dense flow estimator: the renderer's `OpticalFlow` or the measuring `FarnebackFlow`.
public protocol DenseFlow: Sendable {
    /// The flow from `reference` to `other` (same size): `reference(x) ≈ other(x + flow(x))`.
    func flow(from reference: PlanarImage, to other: PlanarImage) -> FlowField
}
