import Testing

/// The compute thread count is process-wide. The tests that change it, and the allocation tests that
/// need it to stay at one thread (a thread count a test has not warmed up for grows new scratch), are
/// nested in this suite, which runs them one at a time; each test that changes the count restores 1.
@Suite(.serialized) enum ProcessWideThreadCount {}
