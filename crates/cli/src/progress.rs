//! Progress bars (rate and ETA) on stderr; hidden when stderr is not a terminal.

use funnel_data::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// A [`Progress`] drawn with indicatif.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Self {
        Bar(ProgressBar::hidden())
    }

    /// A bar over bytes of a file.
    pub fn bytes(what: &str, total: u64) -> Self {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        Bar(b)
    }

    pub fn set_position(&self, p: u64) {
        self.0.set_position(p);
    }

    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.0.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .unwrap()
                .progress_chars("=> "),
        );
        self.0.set_message(what.to_string());
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
