//! `driftwatch run --record FILE`: every input the core receives, as JSON
//! lines (see [`crate::replay`]), written by a task of its own so the core
//! never waits for the disk. Size-capped and rotated: `FILE` is the newest,
//! then `FILE.1` … `FILE.<keep>`; each file starts with the header, so each
//! replays on its own. A restart appends to `FILE` when its header records
//! the same accounts and policies (rotation is by size only); a recording
//! of another configuration is moved aside first.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, watch};

use crate::replay::Header;

#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub path: PathBuf,
    /// Rotate when the current file would grow past this.
    pub max_bytes: u64,
    /// Rotated files kept besides the current one.
    pub keep: u32,
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

struct Writer {
    cfg: RecordConfig,
    header: String,
    file: std::io::BufWriter<std::fs::File>,
    written: u64,
}

impl Writer {
    /// Opens the recording: appends to an existing one of the same
    /// accounts and policies, or moves any other aside first. A restart never
    /// overwrites history.
    fn open(cfg: RecordConfig, header: String) -> std::io::Result<Writer> {
        if let Some(written) = Self::continues(&cfg.path, &header) {
            let file = std::fs::OpenOptions::new().append(true).open(&cfg.path)?;
            return Ok(Writer {
                file: std::io::BufWriter::new(file),
                cfg,
                header,
                written,
            });
        }
        if cfg.path.exists() {
            Self::shift(&cfg)?;
        }
        let mut w = Writer {
            file: std::io::BufWriter::new(std::fs::File::create(&cfg.path)?),
            cfg,
            header,
            written: 0,
        };
        w.line_raw()?;
        Ok(w)
    }

    /// The size of an existing recording at `path` whose header records the
    /// same accounts (with their policies) as `header`, ending in a whole
    /// line: one this run may append to.
    fn continues(path: &Path, header: &str) -> Option<u64> {
        use std::io::{BufRead, Read, Seek};
        let mut f = std::fs::File::open(path).ok()?;
        let len = f.metadata().ok()?.len();
        let mut first = String::new();
        std::io::BufReader::new(&f).read_line(&mut first).ok()?;
        let old: Header = serde_json::from_str(first.trim_end()).ok()?;
        let new: Header = serde_json::from_str(header).ok()?;
        if old.driftwatch_recording != new.driftwatch_recording || old.accounts != new.accounts || old.tick != new.tick
        {
            return None;
        }
        // A run killed mid-line leaves a partial last line: start afresh.
        f.seek(std::io::SeekFrom::End(-1)).ok()?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last).ok()?;
        (last[0] == b'\n').then_some(len)
    }

    fn shift(cfg: &RecordConfig) -> std::io::Result<()> {
        if cfg.keep == 0 {
            return std::fs::remove_file(&cfg.path);
        }
        for n in (1..cfg.keep).rev() {
            let from = rotated(&cfg.path, n);
            if from.exists() {
                std::fs::rename(&from, rotated(&cfg.path, n + 1))?;
            }
        }
        std::fs::rename(&cfg.path, rotated(&cfg.path, 1))
    }

    fn line_raw(&mut self) -> std::io::Result<()> {
        let h = self.header.clone();
        self.file.write_all(h.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.written = h.len() as u64 + 1;
        Ok(())
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        if self.written + line.len() as u64 + 1 > self.cfg.max_bytes && self.written > self.header.len() as u64 + 1 {
            self.file.flush()?;
            Self::shift(&self.cfg)?;
            self.file = std::io::BufWriter::new(std::fs::File::create(&self.cfg.path)?);
            self.line_raw()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.written += line.len() as u64 + 1;
        Ok(())
    }
}

/// Creates the recording (failing at start-up on an unwritable path) and
/// returns the task that writes what arrives on `lines`.
pub fn start(
    cfg: RecordConfig,
    header: &Header,
    mut lines: mpsc::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    let header = serde_json::to_string(header)?;
    let path = cfg.path.clone();
    let mut w = Writer::open(cfg, header).map_err(|e| anyhow::anyhow!("recording to {}: {e}", path.display()))?;
    Ok(async move {
        loop {
            let line = tokio::select! {
                biased;
                line = lines.recv() => line,
                _ = shutdown.changed() => None,
            };
            let Some(line) = line else { break };
            w.line(&line)?;
            // Write out whatever else is waiting, then flush once.
            while let Ok(more) = lines.try_recv() {
                w.line(&more)?;
            }
            w.file.flush()?;
        }
        while let Ok(more) = lines.try_recv() {
            w.line(&more)?;
        }
        w.file.flush()?;
        Ok(())
    })
}
