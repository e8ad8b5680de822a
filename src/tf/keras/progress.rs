//! `verbose` output of `fit`: Keras's epoch lines, with an indicatif bar for `verbose=1`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the bar's running loss is refreshed (each refresh reads the totals back).
const REFRESH: Duration = Duration::from_millis(250);

pub(crate) struct Progress {
    verbose: u8,
    bar: Option<ProgressBar>,
    started: Instant,
    last_refresh: Instant,
    steps: usize,
}

/// `- loss: 0.6931 - accuracy: 0.5000` (Keras's order: loss first, then metrics).
pub(crate) fn format_logs<'a>(logs: impl IntoIterator<Item = (&'a str, f64)>) -> String {
    logs.into_iter().map(|(k, v)| format!(" - {k}: {v:.4}")).collect()
}

impl Progress {
    pub fn new(verbose: u8) -> Self {
        let now = Instant::now();
        Progress { verbose, bar: None, started: now, last_refresh: now, steps: 0 }
    }

    /// Start epoch `epoch` (0-based) of `epochs`, of `steps` batches when known.
    pub fn start_epoch(&mut self, epoch: usize, epochs: usize, steps: Option<usize>) {
        self.started = Instant::now();
        self.last_refresh = self.started;
        self.steps = 0;
        if self.verbose == 0 {
            return;
        }
        println!("Epoch {}/{}", epoch + 1, epochs);
        if self.verbose == 1 {
            let bar = match steps {
                Some(n) => ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let style = ProgressStyle::with_template("{pos}/{len} {wide_bar} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            self.bar = Some(bar);
        }
    }

    /// One step done. Returns whether the bar wants fresh running values (see [`show`]).
    pub fn step(&mut self) -> bool {
        self.steps += 1;
        let Some(bar) = &self.bar else { return false };
        bar.inc(1);
        if self.last_refresh.elapsed() >= REFRESH {
            self.last_refresh = Instant::now();
            return true;
        }
        false
    }

    /// Show running values on the bar.
    pub fn show(&self, logs: &[(&str, f64)]) {
        if let Some(bar) = &self.bar {
            bar.set_message(format_logs(logs.iter().copied()));
        }
    }

    /// End the epoch with Keras's summary line.
    pub fn end_epoch(&mut self, logs: &[(String, f64)]) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.verbose == 0 {
            return;
        }
        let elapsed = self.started.elapsed();
        let per_step = elapsed.as_secs_f64() * 1e3 / self.steps.max(1) as f64;
        let logs = format_logs(logs.iter().map(|(k, v)| (k.as_str(), *v)));
        println!("{0}/{0} - {1:.1}s - {per_step:.2}ms/step{logs}", self.steps, elapsed.as_secs_f64());
    }
}
