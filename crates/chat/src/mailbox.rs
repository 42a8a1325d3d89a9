//! A connection's mailbox: what its task writes next, and whether it is
//! asked to close. One small allocation per connection, whose queue keeps
//! no storage until something is queued and at most a few slots once
//! drained: a bounded channel keeps a block of slots for every idle
//! connection (measured in docs/benchmarks.md, ninth round).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::hub::Outbound;

/// A queue that grew past this many slots is given back once drained, so
/// a burst does not stay reserved for the connection's life.
const KEPT_SLOTS: usize = 4;

/// What the connection's task is to do next.
#[derive(Debug)]
pub enum Delivery {
    /// Close with this code.
    Close(u16),
    /// Write this.
    Write(Outbound),
}

#[derive(Debug)]
pub struct Mailbox {
    queue: Mutex<VecDeque<Outbound>>,
    /// Most items waiting at once; one more and the reader is too slow.
    capacity: usize,
    /// The close code asked for, 0 while none.
    code: AtomicU16,
    /// Wakes the connection's task: something was queued or a close asked.
    wake: Notify,
}

/// The mailbox already holds as many items as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Mailbox {
    pub fn new(capacity: usize) -> Mailbox {
        Mailbox {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            code: AtomicU16::new(0),
            wake: Notify::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<Outbound>> {
        // Pushing and popping cannot leave the queue half changed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `out` for the connection, unless it already holds
    /// `capacity` items.
    pub fn push(&self, out: Outbound) -> Result<(), Full> {
        {
            let mut queue = self.queue();
            if queue.len() >= self.capacity {
                return Err(Full);
            }
            queue.push_back(out);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Asks the connection to close. The first reason wins: it is the one
    /// the client should see.
    pub fn close(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The close code asked for, if any.
    pub fn close_code(&self) -> Option<u16> {
        match self.code.load(Ordering::SeqCst) {
            0 => None,
            code => Some(code),
        }
    }

    /// The next thing queued, without waiting; a close asked for does not
    /// hold it back.
    pub fn try_take(&self) -> Option<Outbound> {
        let mut queue = self.queue();
        let out = queue.pop_front();
        if queue.is_empty() && queue.capacity() > KEPT_SLOTS {
            *queue = VecDeque::new();
        }
        out
    }

    /// Waits for the next delivery: a close asked for comes first, and
    /// what is still queued then is not written (a client resumes with
    /// `since`, so nothing is lost). Safe to drop while waiting (in a
    /// `select!`): nothing is taken from the queue until it is returned.
    pub async fn next(&self) -> Delivery {
        loop {
            if let Some(code) = self.close_code() {
                return Delivery::Close(code);
            }
            if let Some(out) = self.try_take() {
                return Delivery::Write(out);
            }
            // A push or close after the checks above leaves a permit
            // (`notify_one`), so this wait cannot miss it.
            self.wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(Arc::from(text))
    }

    fn text(d: Delivery) -> String {
        match d {
            Delivery::Write(Outbound::Frame(f)) => f.to_string(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_refuses_past_capacity() {
        let m = Mailbox::new(2);
        m.push(frame("a")).expect("room in the mailbox");
        m.push(frame("b")).expect("room in the mailbox");
        assert_eq!(m.push(frame("c")), Err(Full));
        assert_eq!(text(m.next().await), "a");
        assert_eq!(text(m.next().await), "b");
        m.push(frame("d")).expect("room in the mailbox");
        assert_eq!(text(m.next().await), "d");
    }

    #[tokio::test]
    async fn a_close_comes_before_what_is_queued_and_the_first_code_wins() {
        let m = Mailbox::new(4);
        m.push(frame("a")).expect("room in the mailbox");
        m.close(4008);
        m.close(1001);
        assert!(matches!(m.next().await, Delivery::Close(4008)));
        assert_eq!(m.close_code(), Some(4008));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_push_from_another_thread() {
        let m = Arc::new(Mailbox::new(4));
        let pusher = m.clone();
        let reader = tokio::spawn(async move { text(m.next().await) });
        tokio::task::yield_now().await;
        std::thread::spawn(move || pusher.push(frame("late")).expect("room in the mailbox"))
            .join()
            .expect("the pushing thread ran");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the reader woke")
            .expect("the reader ran");
        assert_eq!(got, "late");
    }

    #[test]
    fn a_drained_burst_gives_its_storage_back() {
        let m = Mailbox::new(64);
        for i in 0..40 {
            m.push(frame(&i.to_string())).expect("room in the mailbox");
        }
        assert!(m.queue().capacity() >= 40);
        while m.try_take().is_some() {}
        assert_eq!(m.queue().capacity(), 0);
        m.push(frame("x")).expect("room in the mailbox");
        assert!(m.try_take().is_some());
        assert!(m.queue().capacity() <= KEPT_SLOTS);
    }
}
