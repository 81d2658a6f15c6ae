import Dispatch

/// Times a repeated operation: warms it up, then takes the best of several timed rounds, each long
/// enough (≥ `roundSeconds`) for the clock to be precise. Best-of is the usual choice for throughput on
/// a machine that may have other load: interference only ever slows a round down.
enum Stopwatch {
    static func secondsPerCall(warmUp: Int = 3, rounds: Int = 5, roundSeconds: Double = 0.4, _ body: () -> Void) -> Double {
        for _ in 0..<warmUp { body() }
        var best = Double.infinity
        for _ in 0..<rounds {
            var calls = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                body()
                calls += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < roundSeconds
            best = min(best, elapsed / Double(calls))
        }
        return best
    }
}
