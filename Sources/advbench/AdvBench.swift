import AdvNN
import AdvRobust
import ArgumentParser
import Foundation

/// `advbench`: throughput of the numerics core, the numbers the README's speed table reports.
///
/// For each model (the MLP 784-256-256-10, the wide MLP 784-1024-1024-10, `cnn-small`, `lenet` and
/// `preact-resnet`, all on 1×28×28 inputs), each batch size (32, 128 and 512 by default) and each
/// thread count it measures a clean training step (zero grads, forward, cross-entropy, backward, SGD with
/// momentum), plain inference (forward in evaluation mode) and a PGD-20 attack of the batch (L∞,
/// ε = 0.1, step 0.01, random start), as samples/s and achieved GFLOP/s, beside
/// the GFLOP/s of a large OpenBLAS `sgemm` on the same threads. `bench/torch_reference.py` measures the
/// same rows in PyTorch; `bench/compare.sh` runs both and prints the ratio.
@main
struct AdvBench: ParsableCommand {
    /// The best BLAS kernel for this CPU first (see `KernelSelection`), as advd's own commands do.
    static func main() {
        KernelSelection.prepareProcess { try? FileHandle.standardError.write(contentsOf: Data("advbench: warning: \($0)\n".utf8)) }
        main(nil)
    }

    static let configuration = CommandConfiguration(commandName: "advbench",
                                                    abstract: "Benchmark advd's training and inference throughput.")

    @Option(help: "Comma-separated BLAS thread counts.")
    var threads = "1,2"
    @Option(help: "Comma-separated batch sizes.")
    var batchSizes = "32,128,512"
    @Option(help: "Comma-separated models: \(Self.modelNames.joined(separator: ", ")).")
    var models = Self.modelNames.joined(separator: ",")

    /// The benchmark's models: architectures, and the wide MLP.
    static let modelNames = ["mlp", "mlp-wide", "cnn-small", "lenet", "preact-resnet"]
    @Option(help: "Comma-separated modes: \(Self.modeNames.joined(separator: ", ")) (one alone, to profile it).")
    var modes = Self.modeNames.joined(separator: ",")

    /// What a row measures, in the table's order.
    static let modeNames = ["train", "infer", "pgd20", "pgd-at"]
    @Option(help: "Also write the results as JSON to this path.")
    var json: String?
    @Flag(help: "Print per-layer times of a training step instead of the throughput table.")
    var profile = false
    @Flag(help: "Print the dense kernels' and OpenBLAS's GFLOP/s on each fully connected layer of the models (the forward; the narrow layers' backward too), at each batch size, instead of the throughput table.")
    var denseLayers = false
    @Flag(help: "Print the forward, weight gradient and input gradient times of each convolution of the image models by every algorithm that applies, one thread, at each batch size, instead of the throughput table.")
    var convLayers = false
    @Option(help: "How convolutions compute: auto (each layer's preferred algorithm), unrolled, direct (where the padding is below the kernel size), or winograd (stride-1 3×3 and 5×5 layers); a layer the choice does not apply to keeps its preferred one.")
    var convolution = "auto"

    struct Row: Codable {
        var model: String, threads: Int, batchSize: Int, mode: String, samplesPerSecond: Double, gflops: Double
    }

    struct Report: Codable {
        var machine: String, blasCore: String, batchSizes: [Int]
        var sgemmGflops: [String: Double]
        var rows: [Row]
    }

    func run() throws {
        let threadCounts = threads.split(separator: ",").compactMap { Int($0) }
        let batches = batchSizes.split(separator: ",").compactMap { Int($0) }
        let modelNames = models.split(separator: ",").map(String.init)
        if let unknown = modelNames.first(where: { !Self.modelNames.contains($0) }) {
            throw ValidationError("unknown model \(unknown); expected \(Self.modelNames.joined(separator: ", "))")
        }
        let chosenModes = modes.split(separator: ",").map(String.init)
        if let unknown = chosenModes.first(where: { !Self.modeNames.contains($0) }) {
            throw ValidationError("unknown mode \(unknown); expected \(Self.modeNames.joined(separator: ", "))")
        }
        guard convolution == "auto" || ConvolutionAlgorithm(rawValue: convolution) != nil else {
            throw ValidationError("unknown convolution \(convolution); expected auto, unrolled or direct")
        }
        let algorithm = ConvolutionAlgorithm(rawValue: convolution)
        if profile {
            for threadCount in threadCounts {
                let compute = ComputeContext(threads: threadCount)
                for name in modelNames {
                    for batchSize in batches {
                        print("\(name), \(threadCount) threads, batch \(batchSize):")
                        let (model, input, labels) = try Self.benchmarkSetup(model: name, batchSize: batchSize, compute: compute,
                                                                             convolution: algorithm)
                        LayerProfile.run(model: model, input: input, labels: labels)
                    }
                }
            }
            return
        }
        try Self.verifyGEMM()
        if denseLayers {
            DenseLayerBench.run(batchSizes: batches)
            return
        }
        if convLayers {
            ConvolutionLayerBench.run(batchSizes: batches)
            return
        }
        var report = Report(machine: Self.machineDescription(), blasCore: BLAS.coreName, batchSizes: batches,
                            sgemmGflops: [:], rows: [])
        print("advbench: \(report.machine), OpenBLAS core \(report.blasCore)")
        print("model          threads  batch  mode        samples/s     GFLOP/s   (sgemm 2048³ GFLOP/s)")
        for threadCount in threadCounts {
            let compute = ComputeContext(threads: threadCount)
            let sgemm = Self.sgemmGflops(on: compute)
            report.sgemmGflops[String(threadCount)] = sgemm
            for name in modelNames {
                for batchSize in batches {
                    for mode in Self.modeNames where chosenModes.contains(mode) {
                        let row = try Self.measure(model: name, mode: mode, compute: compute, batchSize: batchSize,
                                                   convolution: algorithm)
                        report.rows.append(row)
                        print(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                              + String(format: " %7d  %5d  ", threadCount, batchSize) + row.mode.padding(toLength: 10, withPad: " ", startingAt: 0)
                              + String(format: " %11.0f %11.1f   (%.1f)", row.samplesPerSecond, row.gflops, sgemm))
                    }
                }
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
        }
    }

    /// The model, a random input batch in [0, 1) and labels, as both the table and the profile use them.
    /// `convolution` nil: each convolution's preferred algorithm.
    static func benchmarkSetup(model name: String, batchSize: Int, compute: ComputeContext,
                               convolution: ConvolutionAlgorithm?) throws -> (Sequential, Tensor, [Int]) {
        var rng = RandomStream(seed: 0, purpose: "bench")
        let hidden: [Int]? = ["mlp": [256, 256], "mlp-wide": [1024, 1024]][name]
        let spec = ModelSpec(architecture: name == "mlp-wide" ? "mlp" : name, inputShape: [1, 28, 28], classes: 10, hidden: hidden)
        let model = try spec.build(rng: &rng)
        model.compute = compute
        if let convolution {
            for layer in convolutions(in: model) where convolution.applies(to: layer.geometry) {
                layer.algorithm = convolution
            }
        }
        let input = Tensor(zeros: Shape(batchSize, 1, 28, 28))
        for i in 0..<input.count { input[i] = rng.nextUnitFloat() }
        return (model, input, (0..<batchSize).map { $0 % 10 })
    }

    /// Every convolution in a benchmark model.
    static func convolutions(in layer: any Layer) -> [Conv2D] {
        switch layer {
        case let convolution as Conv2D: [convolution]
        case let sequential as Sequential: sequential.layers.flatMap(convolutions(in:))
        case let block as PreActivationBlock: [block.conv1, block.conv2] + (block.shortcut.map { [$0] } ?? [])
        default: []
        }
    }

    static func measure(model name: String, mode: String, compute: ComputeContext, batchSize: Int,
                        convolution: ConvolutionAlgorithm?) throws -> Row {
        var rng = RandomStream(seed: 1, purpose: "bench.steps")
        let (model, input, labels) = try benchmarkSetup(model: name, batchSize: batchSize, compute: compute,
                                                        convolution: convolution)
        let flops = FlopCount(model: model, batchShape: input.shape)
        let seconds: Double
        if mode == "train" {
            let optimizer = SGD(parameters: model.namedParameters, learningRate: 0.01, momentum: 0.9)
            optimizer.compute = compute
            var method = StandardTraining()
            seconds = Stopwatch.secondsPerCall {
                _ = method.step(model: model, inputs: input, labels: labels, optimizer: optimizer, rng: &rng,
                                position: TrainingPosition(epoch: 0, totalEpochs: 1))
            }
        } else if mode == "pgd-at" {
            // a PGD-10 adversarial-training step: L∞ ε = 0.1, step 0.025, random start, then SGD on the result
            let optimizer = SGD(parameters: model.namedParameters, learningRate: 0.01, momentum: 0.9)
            optimizer.compute = compute
            var method = PGDTraining(attack: PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.1), stepSize: 0.025, steps: 10))
            seconds = Stopwatch.secondsPerCall(warmUp: 1, rounds: 3) {
                _ = method.step(model: model, inputs: input, labels: labels, optimizer: optimizer, rng: &rng,
                                position: TrainingPosition(epoch: 0, totalEpochs: 1))
            }
        } else if mode == "pgd20" {
            // a PGD-20 evaluation of the batch: L∞ ε = 0.1, step 0.01, random start, CE, eval mode
            let classifier = ModelClassifier(model, classCount: 10)
            let pgd = PGD(threatModel: ThreatModel(norm: .linf, epsilon: 0.1), stepSize: 0.01, steps: 20)
            seconds = Stopwatch.secondsPerCall(warmUp: 1, rounds: 3) {
                _ = pgd.perturb(input, labels: labels, against: classifier, using: &rng)
            }
        } else {
            model.isTraining = false
            seconds = Stopwatch.secondsPerCall { _ = model.infer(input) }
        }
        // PGD: 20 forward + input-gradient backward passes, plus the final forward that judges them
        let work: Double
        switch mode {
        case "train": work = flops.training
        case "pgd20": work = 20 * (flops.forward + flops.inputGradient) + flops.forward
        case "pgd-at": work = 10 * (flops.forward + flops.inputGradient) + flops.training
        default: work = flops.forward
        }
        let modeName = ["train": "training", "infer": "inference", "pgd20": "PGD-20", "pgd-at": "PGD-10 AT"][mode]!
        return Row(model: name, threads: compute.threads, batchSize: batchSize, mode: modeName, samplesPerSecond: Double(batchSize) / seconds,
                   gflops: work / seconds / 1e9)
    }

    /// Checks OpenBLAS against the naive twin before timing it: some OpenBLAS builds pick kernels that
    /// compute wrong results on newer CPUs (why this workplace pins OPENBLAS_CORETYPE for tests).
    static func verifyGEMM() throws {
        let worst = BLAS.largestErrorAgainstNaive()
        guard worst < 1e-3 else {
            throw ValidationError("OpenBLAS kernel \(BLAS.coreName) computes wrong products (error \(worst)); set OPENBLAS_CORETYPE")
        }
    }

    /// The machine's large-matrix sgemm rate: C = A·B with 2048×2048 matrices.
    static func sgemmGflops(size n: Int = 2048, on compute: ComputeContext) -> Double {
        let a = Tensor(repeating: 0.5, shape: Shape(n, n)), b = Tensor(repeating: 0.25, shape: Shape(n, n))
        let c = Tensor(zeros: Shape(n, n))
        let seconds = Stopwatch.secondsPerCall(warmUp: 1, rounds: 3, roundSeconds: 0.5) {
            BLAS.gemm(m: n, n: n, k: n, a: a.data, b: b.data, c: c.data, on: compute)
        }
        return 2 * Double(n * n * n) / seconds / 1e9
    }

    static func machineDescription() -> String {
        "\(CPUFeatures.current.description), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
