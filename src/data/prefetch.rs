//! Background prefetch: a producer thread per iterator and a bounded queue.
//!
//! The producer runs the whole pipeline (item stream and gathers) and sends each result into a
//! `sync_channel` of the requested depth, so memory is bounded by that many batches. Dropping
//! the consumer closes the queue; the producer's next send fails, it stops, and the drop joins
//! it. A panic in the producer is caught and arrives as an `Err` item, never as a panic in the
//! consumer's thread.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

use super::fields::Fields;
use crate::error::{Error, Result};

/// Batches smaller than this travel several to a chunk.
pub const CHUNK_BYTES: usize = 256 << 10;
const MAX_CHUNK: usize = 64;

fn batch_bytes(item: &Result<Fields>) -> usize {
    match item {
        Ok(f) => f.tensors().iter().map(|t| t.elem_count() * t.dtype().size_in_bytes()).sum(),
        Err(_) => CHUNK_BYTES,
    }
}

/// An iterator whose items are computed on a background thread, at most `depth` ahead.
pub struct Prefetch {
    receiver: Option<Receiver<Vec<Result<Fields>>>>,
    ready: VecDeque<Result<Fields>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Start a thread that drains `inner` into a queue of `depth` (>= 1) items.
    pub fn spawn<I>(inner: I, depth: usize) -> Result<Self>
    where
        I: Iterator<Item = Result<Fields>> + Send + 'static,
    {
        let depth = depth.max(1);
        let (sender, receiver) = sync_channel::<Vec<Result<Fields>>>(depth);
        let worker = std::thread::Builder::new()
            .name("candle-numpy-prefetch".into())
            .spawn(move || {
                let mut inner = inner;
                let mut chunk: Vec<Result<Fields>> = Vec::new();
                let mut chunk_bytes = 0;
                loop {
                    let next = catch_unwind(AssertUnwindSafe(|| inner.next())).unwrap_or_else(|panic| {
                        Some(Err(Error::PrefetchFailed { reason: panic_message(&panic) }))
                    });
                    let done = match next {
                        None => true,
                        Some(item) => {
                            let stop = item.is_err();
                            chunk_bytes += batch_bytes(&item);
                            chunk.push(item);
                            stop
                        }
                    };
                    // one large batch per chunk; small ones pooled up to CHUNK_BYTES
                    let full = chunk.len() >= MAX_CHUNK || chunk_bytes >= CHUNK_BYTES;
                    if (full || done) && !chunk.is_empty() {
                        chunk_bytes = 0;
                        // the consumer hung up: stop producing
                        if sender.send(std::mem::take(&mut chunk)).is_err() {
                            break;
                        }
                    }
                    if done {
                        break;
                    }
                }
            })
            .map_err(|e| Error::PrefetchFailed { reason: format!("cannot start the thread: {e}") })?;
        Ok(Prefetch { receiver: Some(receiver), ready: VecDeque::new(), worker: Some(worker) })
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the producer thread panicked".into())
}

impl Iterator for Prefetch {
    type Item = Result<Fields>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.ready.pop_front() {
            return Some(item);
        }
        let item = self.receiver.as_ref()?.recv().ok().and_then(|chunk| {
            self.ready.extend(chunk);
            self.ready.pop_front()
        });
        if item.is_none() {
            self.receiver = None;
            if let Some(worker) = self.worker.take() {
                if let Err(panic) = worker.join() {
                    return Some(Err(Error::PrefetchFailed { reason: panic_message(&panic) }));
                }
            }
        }
        item
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Close the queue first so a blocked producer wakes up, then wait for it.
        self.receiver = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch").field("running", &self.worker.is_some()).finish()
    }
}
