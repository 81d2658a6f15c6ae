import Foundation
import Synchronization

/// A fixed team of threads for data-parallel kernels: the caller runs part 0 and `threads − 1`
/// workers run the others. Workers spin briefly between jobs — a training step launches dozens of
/// short parallel regions, and waking a sleeping thread costs more than most of them — then sleep on
/// a condition variable, so an idle pool costs no CPU.
///
/// One job at a time: a caller that finds the pool busy (another thread's job, or a nested call) runs
/// its parts itself, so correctness never depends on the pool being free. Its `ComputeContext` owns
/// it and stops its workers when released.
final class ComputePool: @unchecked Sendable {
    let threads: Int
    /// Spin iterations before a worker sleeps: a few tens of microseconds.
    private static let spinLimit = 20_000

    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Written by the caller before `generation` is released, read by workers after acquiring it.
    private var job: ((Int) -> Void)?
    private var parts = 0

    init(threads: Int) {
        precondition(threads >= 1, "a pool needs at least one thread")
        self.threads = threads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 1..<threads {
            // the workers hold the pool until `stop` lets them return
            let thread = Thread { [self] in self.workerLoop(index: index) }
            thread.name = "advd-compute-\(index)"
            thread.start()
        }
    }

    /// Runs `body(part)` for every part in 0..<parts (at most `threads`), returning when all are done.
    func run(parts: Int, _ body: (Int) -> Void) {
        precondition(parts <= threads, "\(parts) parts for a pool of \(threads) threads")
        guard parts > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for part in 0..<parts { body(part) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            self.parts = parts
            // Every worker acknowledges every job, taking part or not: `job` and `parts` may only change
            // once no worker can still be reading them.
            pending.store(threads - 1, ordering: .relaxed)
            // store generation, then load sleepers; a worker stores sleepers, then loads generation:
            // sequential consistency guarantees that one of the two sees the other
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(condition)
                pthread_mutex_unlock(mutex)
            }
            escapable(0)
            // spin briefly, then yield the core: on an oversubscribed machine the workers we wait for
            // may need it to run at all
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < Self.spinLimit { spinPause() } else { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Ends the workers once they finish what they are doing; the pool takes no job after this.
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < Self.spinLimit {
                    spinPause()
                    continue
                }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(condition, mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .sequentiallyConsistent) { return }
            if index < parts { runPart(index) }   // drops its reference to the job before acknowledging
            pending.subtract(1, ordering: .releasing)
        }
    }

    @inline(never)
    private func runPart(_ index: Int) {
        job?(index)
    }

    @inline(__always)
    private func spinPause() {
        #if arch(x86_64) || arch(i386)
        _mm_pause_equivalent()
        #endif
    }
}

/// A short busy-wait hint. A volatile-free empty loop would be optimised away; a relaxed atomic add
/// is not. The x86 `pause` instruction is not used on purpose: under KVM a loop of pauses looks like a
/// spin on a preempted lock holder and makes the hypervisor deschedule the vCPU (tried through a C
/// helper on the 2-core Zen 4 VM: the MLP's two-thread PGD-10 AT at batch 128 ran at half speed in two
/// rounds of three).
@inline(__always)
private func _mm_pause_equivalent() {
    spinCounter.add(0, ordering: .relaxed)
}

private let spinCounter = Atomic<Int>(0)
