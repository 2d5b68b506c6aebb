//! How progress reaches the user: an indicatif bar and spinner on a terminal (events printed above
//! them), one `moa-bundle: …` line per status and event when stderr is a log or a pipe, and only
//! warnings with `--json` (stdout is then the report, stderr stays quiet for scripts).

use std::io::IsTerminal;
use std::sync::Mutex;

use moa_engine::{Event, Reporter};

pub fn reporter(json: bool) -> Box<dyn Reporter> {
    if json {
        Box::new(Quiet)
    } else if std::io::stderr().is_terminal() {
        Box::new(Progress { bar: Mutex::new(None), spinner: indicatif::ProgressBar::new_spinner() })
    } else {
        Box::new(LogLines { start: std::time::Instant::now() })
    }
}

/// `--json`: warnings only.
struct Quiet;

impl Reporter for Quiet {
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// Not a terminal: one line per status and event, with the seconds since the start (where
/// the time goes, in any log), nothing per byte.
struct LogLines {
    start: std::time::Instant,
}

impl LogLines {
    fn line(&self, message: &str) {
        eprintln!("moa-bundle: [{:.2}s] {message}", self.start.elapsed().as_secs_f64());
    }
}

impl Reporter for LogLines {
    fn status(&self, message: &str) {
        self.line(message);
    }
    fn download_start(&self, count: usize, total: u64) {
        self.line(&format!("fetching {count} package(s), {}", super::render::human(total)));
    }
    fn warn(&self, message: &str) {
        eprintln!("warning: {message}");
    }
    fn event(&self, event: &Event) {
        self.line(&event.to_string());
    }
}

struct Progress {
    bar: Mutex<Option<indicatif::ProgressBar>>,
    spinner: indicatif::ProgressBar,
}

impl Progress {
    fn println(&self, line: String) {
        match &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => self.spinner.suspend(|| eprintln!("{line}")),
        }
    }
}

impl Reporter for Progress {
    fn status(&self, message: &str) {
        self.spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        self.spinner.set_message(message.to_string());
    }
    fn download_start(&self, count: usize, total: u64) {
        self.spinner.finish_and_clear();
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("{count} package(s)"));
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }
    fn download_progress(&self, n: u64) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            b.inc(n);
        }
    }
    fn download_done(&self, file: &str) {
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            b.set_message(file.chars().take(20).collect::<String>());
        }
    }
    fn download_finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
    fn warn(&self, message: &str) {
        self.println(format!("warning: {message}"));
    }
    fn event(&self, event: &Event) {
        // Only what a person acts on: the cache summary is for logs.
        if !matches!(event, Event::CacheSummary { .. }) {
            self.println(format!("note: {event}"));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.spinner.finish_and_clear();
    }
}
