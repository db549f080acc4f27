//! Threads for the CPU-bound part of requests: one per core, taking jobs in arrival order.
//!
//! Plain threads, not a rayon pool: engine code that runs rayon inside a request (a lazily
//! built iALS Gram matrix, a large batch prediction) then waits on rayon's global pool
//! without stealing another request's job — with a rayon request pool, a thread waiting in
//! a `OnceLock` initialiser picked up a second request that waited on the same `OnceLock`,
//! and every request thread hung (found by `bench/serve.sh` right after a fit).

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running jobs first come, first served.
pub struct Workers {
    queue: Mutex<Sender<Job>>,
}

impl Workers {
    /// `n` threads named `funnel-request-K`.
    pub fn new(n: usize) -> std::io::Result<Workers> {
        let (tx, rx) = channel::<Job>();
        let rx: Arc<Mutex<Receiver<Job>>> = Arc::new(Mutex::new(rx));
        for k in 0..n.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("funnel-request-{k}"))
                .spawn(move || loop {
                    // The lock is held only while taking a job, not while running it.
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the pool was dropped
                    }
                })?;
        }
        Ok(Workers {
            queue: Mutex::new(tx),
        })
    }

    /// Queues `job`.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        let q = self.queue.lock().expect("workers queue lock");
        // Sending fails only once every thread has gone, which only a panic outside a
        // job could cause; the caller then sees its answer channel closed.
        let _ = q.send(Box::new(job));
    }
}
