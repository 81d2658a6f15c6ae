#if canImport(Glibc)
import Glibc
#endif

/// `posix_spawn` attributes for every child the daemon starts (jobs, Slurm commands). The daemon
/// ignores SIGTERM, SIGINT, SIGHUP and SIGPIPE to handle them itself, and ignored dispositions survive
/// exec: the child gets the defaults back, and an empty signal mask.
final class ChildSpawnAttributes {
    var attributes = posix_spawnattr_t()

    init() {
        posix_spawnattr_init(&attributes)
        var defaults = sigset_t(), empty = sigset_t()
        sigemptyset(&defaults)
        sigemptyset(&empty)
        for number in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    }

    deinit {
        posix_spawnattr_destroy(&attributes)
    }
}
