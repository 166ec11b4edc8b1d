/// The names of VGG19's ReLU outputs, which settings refer to (the content layer, the style layers): the network's
/// vocabulary without the network, so that a job can be checked where no weights are loaded.
public enum VGG19Layers {
    /// In network order; convolution i of the compute core's `VGG19` produces `names[i]`.
    public static let names = [
        "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
        "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1"
    ]
}
