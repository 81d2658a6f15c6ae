/// The dimensions of a tensor, outermost first (NCHW for images, (N, features) for vectors).
///
/// Up to four dimensions are stored inline, so making or comparing a shape never touches the heap:
/// the training loop reshapes its workspaces every step and must not allocate.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    /// The largest rank a tensor here may have: (N, C, H, W).
    public static let maxRank = 4

    private var dims: (Int, Int, Int, Int)
    /// The number of dimensions.
    public let rank: Int

    /// Makes a shape from its dimensions, outermost first.
    public init(_ dimensions: Int...) {
        self.init(dimensions)
    }

    /// Makes a shape from its dimensions, outermost first.
    public init(_ dimensions: [Int]) {
        precondition(dimensions.count <= Shape.maxRank, "rank \(dimensions.count) exceeds \(Shape.maxRank): \(dimensions)")
        precondition(dimensions.allSatisfy { $0 >= 0 }, "negative dimension in \(dimensions)")
        rank = dimensions.count
        dims = (0, 0, 0, 0)
        for (axis, size) in dimensions.enumerated() { self[axis] = size }
    }

    /// The size along `axis` (0 is the outermost).
    public subscript(axis: Int) -> Int {
        get {
            precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for rank \(rank)")
            switch axis {
            case 0: return dims.0
            case 1: return dims.1
            case 2: return dims.2
            default: return dims.3
            }
        }
        set {
            precondition(axis >= 0 && axis < rank, "axis \(axis) out of range for rank \(rank)")
            switch axis {
            case 0: dims.0 = newValue
            case 1: dims.1 = newValue
            case 2: dims.2 = newValue
            default: dims.3 = newValue
            }
        }
    }

    /// The number of elements: the product of the dimensions (1 for a scalar).
    public var elementCount: Int {
        var product = 1
        for axis in 0..<rank { product *= self[axis] }
        return product
    }

    /// The dimensions as an array (allocates; for headers and messages, not the hot path).
    public var dimensions: [Int] { (0..<rank).map { self[$0] } }

    /// The size of the outermost axis, the batch size for batched tensors.
    public var batchSize: Int { rank == 0 ? 1 : self[0] }

    /// The number of elements per batch item: the product of all but the outermost axis.
    public var elementsPerItem: Int { rank == 0 ? 1 : elementCount / Swift.max(self[0], 1) }

    /// The same shape with the outermost axis replaced, for a batch of another size.
    public func withBatchSize(_ size: Int) -> Shape {
        var copy = self
        copy[0] = size
        return copy
    }

    public static func == (lhs: Shape, rhs: Shape) -> Bool {
        guard lhs.rank == rhs.rank else { return false }
        for axis in 0..<lhs.rank where lhs[axis] != rhs[axis] { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        for axis in 0..<rank { hasher.combine(self[axis]) }
    }

    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }
}
