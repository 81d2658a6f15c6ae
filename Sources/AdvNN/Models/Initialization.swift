/// Parameter initialisation, matching PyTorch's defaults so that recipes transfer.
public enum Initialization {
    /// A tensor with elements uniform in [-bound, bound).
    public static func uniform(_ shape: Shape, bound: Float, rng: inout RandomStream) -> Tensor {
        let tensor = Tensor(zeros: shape)
        for i in 0..<tensor.count { tensor[i] = rng.nextFloat(in: -bound, bound) }
        return tensor
    }

    /// PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases: `kaiming_uniform_(a=√5)`,
    /// which works out to uniform in ±1/√fanIn, where fanIn = inputs per output (in·kh·kw for a conv).
    public static func kaimingUniformBound(fanIn: Int) -> Float {
        1 / Float(fanIn).squareRoot()
    }
}
