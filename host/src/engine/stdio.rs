//! A custom guest's stdout and stderr, written to cistern's log line by line
//! under the name of the action being called. Bounded: a line is cut at
//! `MAX_LINE` bytes, and a call's output past `MAX_PER_CALL` is dropped and
//! counted in one warning, so a chatty guest cannot flood the log.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

const MAX_LINE: usize = 4096;
const MAX_PER_CALL: usize = 64 * 1024;

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// Both streams of one instance, and whom they speak for.
#[derive(Clone)]
pub(crate) struct Output(Arc<Mutex<Lines>>);

struct Lines {
    action: Arc<str>,
    pending: [Vec<u8>; 2],
    logged: usize,
    dropped: usize,
}

impl Output {
    /// Output written while no action runs (at instantiation, in `functions`)
    /// is logged under `label`.
    pub(crate) fn new(label: &str) -> Output {
        Output(Arc::new(Mutex::new(Lines {
            action: Arc::from(label),
            pending: [Vec::new(), Vec::new()],
            logged: 0,
            dropped: 0,
        })))
    }

    pub(crate) fn stdout(&self) -> Writer {
        Writer { out: self.clone(), stream: Stream::Stdout }
    }

    pub(crate) fn stderr(&self) -> Writer {
        Writer { out: self.clone(), stream: Stream::Stderr }
    }

    /// A call of `action` begins: its output is logged under its name, within a fresh budget.
    pub(crate) fn begin(&self, action: &Arc<str>) {
        let mut lines = self.0.lock().expect("output lock");
        lines.action = action.clone();
        lines.logged = 0;
        lines.dropped = 0;
    }

    /// The call ended: an unfinished line is logged, and what was dropped is said once.
    pub(crate) fn end(&self) {
        let mut lines = self.0.lock().expect("output lock");
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut lines.pending[stream as usize]);
            if !line.is_empty() {
                emit(&lines.action, stream, &line);
            }
        }
        if lines.dropped > 0 {
            tracing::warn!(target: "cistern::guest", action = %lines.action, dropped = lines.dropped,
                "guest output over {MAX_PER_CALL} bytes in one call; the rest was dropped");
        }
        lines.logged = 0;
        lines.dropped = 0;
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        let mut lines = self.0.lock().expect("output lock");
        let room = MAX_PER_CALL.saturating_sub(lines.logged);
        let (kept, dropped) = bytes.split_at(bytes.len().min(room));
        lines.logged += kept.len();
        lines.dropped += dropped.len();
        let lines = &mut *lines;
        let pending = &mut lines.pending[stream as usize];
        for chunk in kept.split_inclusive(|b| *b == b'\n') {
            let complete = chunk.ends_with(b"\n");
            let body = chunk.strip_suffix(b"\n").unwrap_or(chunk);
            let fits = MAX_LINE.saturating_sub(pending.len());
            pending.extend_from_slice(&body[..body.len().min(fits)]);
            if complete {
                emit(&lines.action, stream, pending);
                pending.clear();
            }
        }
    }
}

fn emit(action: &str, stream: Stream, line: &[u8]) {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if line.len() >= MAX_LINE {
        text.push_str("...");
    }
    match stream {
        Stream::Stdout => tracing::info!(target: "cistern::guest", action, stream = "stdout", "{text}"),
        Stream::Stderr => tracing::warn!(target: "cistern::guest", action, stream = "stderr", "{text}"),
    }
}

/// One stream, as WASI's context takes it.
pub(crate) struct Writer {
    out: Output,
    stream: Stream,
}

impl IsTerminal for Writer {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Writer {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Writer { out: self.out.clone(), stream: self.stream })
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(Writer { out: self.out.clone(), stream: self.stream })
    }
}

impl OutputStream for Writer {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.out.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[async_trait::async_trait]
impl Pollable for Writer {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Writer {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.out.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_s_output_is_cut_and_bounded() {
        let out = Output::new("(loading)");
        out.begin(&Arc::from("backend.sqlite.hook.message.publish.1"));
        out.write(Stream::Stdout, b"one\ntwo");
        assert_eq!(out.0.lock().unwrap().pending[Stream::Stdout as usize], b"two", "a whole line is logged at once");
        out.write(Stream::Stderr, &vec![b'x'; MAX_PER_CALL + 10]);
        {
            let lines = out.0.lock().unwrap();
            assert_eq!(lines.pending[Stream::Stderr as usize].len(), MAX_LINE, "a long line is cut");
            assert_eq!(lines.logged, MAX_PER_CALL, "no more than the call's budget is taken");
            assert_eq!(lines.dropped, 17, "the rest is counted as dropped");
        }
        out.end();
        let lines = out.0.lock().unwrap();
        assert!(lines.pending.iter().all(Vec::is_empty), "an unfinished line is logged when the call ends");
        assert_eq!((lines.logged, lines.dropped), (0, 0), "the next call has a fresh budget");
    }
}
