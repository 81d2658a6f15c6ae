/// A dense float32 tensor in row-major (C) order: NCHW for images, (N, features) for vectors.
///
/// `Tensor` is a reference type, like a PyTorch tensor or an llm.c activation buffer: layers own their
/// output and gradient tensors and overwrite them every step, so a training step reuses the same memory
/// instead of allocating. `resize(to:)` changes the shape in place and only reallocates when the new shape
/// needs more room than the tensor has ever held. A tensor a layer returns stays valid until that layer's
/// next forward (or backward); call `copy()` to keep one.
///
/// A *view* (`reshaped(to:)`) shares its base's memory under another shape and keeps the base alive.
public final class Tensor {
    /// The dimensions, outermost first.
    public private(set) var shape: Shape
    /// The first element. Valid for `shape.elementCount` elements.
    public private(set) var data: UnsafeMutablePointer<Float>
    /// How many elements the memory holds; `resize(to:)` within it does not allocate.
    public private(set) var capacity: Int
    /// The tensor whose memory this view shares, or nil when this tensor owns its memory.
    private var base: Tensor?

    /// Makes a zero-filled tensor.
    public init(zeros shape: Shape) {
        self.shape = shape
        capacity = Swift.max(shape.elementCount, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    /// Makes a tensor holding `scalars` in row-major order.
    public convenience init(shape: Shape, scalars: [Float]) {
        precondition(scalars.count == shape.elementCount, "\(scalars.count) scalars for shape \(shape)")
        self.init(zeros: shape)
        scalars.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// Makes a tensor filled with `value`.
    public convenience init(repeating value: Float, shape: Shape) {
        self.init(zeros: shape)
        data.update(repeating: value, count: shape.elementCount)
    }

    private init(viewing base: Tensor, shape: Shape) {
        precondition(shape.elementCount <= base.shape.elementCount, "view \(shape) larger than base \(base.shape)")
        self.shape = shape
        data = base.data
        capacity = shape.elementCount
        self.base = base
    }

    deinit {
        if base == nil { data.deallocate() }
    }

    /// The number of elements.
    @inline(__always) public var count: Int { shape.elementCount }

    /// Whether this tensor shares another tensor's memory.
    public var isView: Bool { base != nil }

    /// Element at flat (row-major) index.
    @inline(__always) public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }

    /// The elements as a buffer, for loops in kernels.
    @inline(__always) public var buffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: data, count: count)
    }

    /// The elements as an array (allocates; for tests, checkpoints and messages).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Changes the shape in place. Contents are unspecified afterwards unless the element count is unchanged.
    /// Reallocates only when the new shape needs more elements than `capacity`.
    public func resize(to newShape: Shape) {
        guard newShape != shape else { return }
        let needed = newShape.elementCount
        if needed > capacity {
            precondition(base == nil, "cannot grow a view from \(shape) to \(newShape)")
            data.deallocate()
            capacity = needed
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        shape = newShape
    }

    /// Points this view at another tensor's memory under `shape`, without allocating.
    /// Used by shape-only layers (Flatten) that reuse one view object across steps.
    public func repoint(at other: Tensor, shape newShape: Shape) {
        precondition(base != nil, "repoint is for views; this tensor owns its memory")
        precondition(newShape.elementCount == other.count, "cannot view \(other.shape) as \(newShape)")
        base = other
        data = other.data
        capacity = newShape.elementCount
        shape = newShape
    }

    /// Points this view at items `range` of `other`'s outermost axis, as `other.items(range)` would make,
    /// without allocating a new view.
    public func repoint(atItems range: Range<Int>, of other: Tensor) {
        precondition(base != nil, "repoint is for views; this tensor owns its memory")
        precondition(range.lowerBound >= 0 && range.upperBound <= other.shape.batchSize, "items \(range) of \(other.shape)")
        base = other
        shape = other.shape.withBatchSize(range.count)
        data = other.data + range.lowerBound * other.shape.elementsPerItem
        capacity = shape.elementCount
    }

    /// A view of the same memory under another shape with the same element count.
    public func reshaped(to newShape: Shape) -> Tensor {
        precondition(newShape.elementCount == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(viewing: self, shape: newShape)
    }

    /// A new tensor that owns a copy of these elements.
    public func copy() -> Tensor {
        let result = Tensor(zeros: shape)
        result.data.update(from: data, count: count)
        return result
    }

    /// Copies `other`'s elements and shape into this tensor (resizing it first).
    public func assign(_ other: Tensor) {
        resize(to: other.shape)
        data.update(from: other.data, count: count)
    }

    /// Sets every element to zero.
    public func zero() {
        data.update(repeating: 0, count: count)
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) {
        data.update(repeating: value, count: count)
    }

    /// Multiplies every element by `factor` in place.
    public func scale(by factor: Float) {
        for index in 0..<count { data[index] *= factor }
    }

    /// Items `range` of the outermost axis as a view (the range's batch slice), sharing memory.
    public func items(_ range: Range<Int>) -> Tensor {
        let view = Tensor(viewing: self, shape: shape.withBatchSize(range.count))
        view.repoint(atItems: range, of: self)
        return view
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor\(shape)[\(shown)\(count > 8 ? ", …" : "")]"
    }
}
