//! Progress reporting without a UI dependency: library crates report, the CLI draws bars.

/// Receives progress of long work (fits, reads, evaluations).
pub trait Progress: Sync {
    /// Starts a phase of `total` steps (0 when unknown) named `what`.
    fn start(&self, what: &str, total: u64);
    /// `n` more steps are done.
    fn inc(&self, n: u64);
    /// The phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
}
