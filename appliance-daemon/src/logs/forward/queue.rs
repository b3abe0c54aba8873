//! A server's queue: messages waiting for it, bounded in bytes. When a new message would
//! pass the bound, the oldest go and are counted; the count goes to the server in a line
//! of its own once it takes messages again.

use std::collections::VecDeque;
use std::sync::Arc;

/// The bound of each server's queue by default: 4 MiB (about 20 000 lines of 200 bytes).
pub(crate) const DEFAULT_CAP_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub(crate) struct Queue {
    cap: usize,
    lines: VecDeque<Arc<str>>,
    bytes: usize,
    /// Dropped since the server was set.
    pub(crate) dropped: u64,
    /// Dropped and not yet told to the server.
    pub(crate) untold: u64,
}

/// What a sender takes at once.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) lines: Vec<Arc<str>>,
    /// Dropped lines this batch tells the server about first.
    pub(crate) told: u64,
}

impl Queue {
    pub(crate) fn new(cap: usize) -> Queue {
        Queue {
            cap,
            lines: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            untold: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn drop_oldest_for(&mut self, len: usize) {
        while self.bytes + len > self.cap {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.dropped += 1;
                    self.untold += 1;
                }
                None => break,
            }
        }
    }

    /// Add at the end; the oldest lines go if it is full (a line longer than the whole
    /// bound is dropped itself).
    pub(crate) fn push(&mut self, line: Arc<str>) {
        if line.len() > self.cap {
            self.dropped += 1;
            self.untold += 1;
            return;
        }
        self.drop_oldest_for(line.len());
        self.bytes += line.len();
        self.lines.push_back(line);
    }

    /// The oldest lines, about `max_bytes` of them (at least one), and the dropped count
    /// not told yet.
    pub(crate) fn take(&mut self, max_bytes: usize) -> Batch {
        let mut batch = Batch {
            lines: Vec::new(),
            told: std::mem::take(&mut self.untold),
        };
        let mut size = 0;
        while let Some(front) = self.lines.front() {
            if !batch.lines.is_empty() && size + front.len() > max_bytes {
                break;
            }
            size += front.len();
            self.bytes -= front.len();
            batch.lines.extend(self.lines.pop_front());
        }
        batch
    }

    /// A batch the server did not take goes back in front, as far as the bound allows
    /// (what does not fit is dropped and counted, oldest first).
    pub(crate) fn put_back(&mut self, batch: Batch) {
        self.untold += batch.told;
        for line in batch.lines.into_iter().rev() {
            if self.bytes + line.len() > self.cap {
                self.dropped += 1;
                self.untold += 1;
                continue;
            }
            self.bytes += line.len();
            self.lines.push_front(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> Arc<str> {
        Arc::from(format!("line {i:05}"))
    }

    #[test]
    fn the_oldest_lines_go_and_are_counted() {
        let mut q = Queue::new(100);
        for i in 0..25 {
            q.push(line(i)); // 10 bytes each: 10 fit
        }
        assert_eq!((q.len(), q.bytes(), q.dropped, q.untold), (10, 100, 15, 15));
        let b = q.take(35);
        assert_eq!(b.told, 15);
        assert_eq!(b.lines.len(), 3);
        assert_eq!(&*b.lines[0], "line 00015");
        assert_eq!(q.untold, 0);
        // Not taken by the server: back in front, the count to be told again.
        q.push(line(25));
        q.push(line(26));
        q.put_back(b);
        assert_eq!(
            q.untold, 17,
            "the 15 not told yet, and 2 more that did not fit back"
        );
        assert_eq!(q.len(), 10);
        let all = q.take(1000);
        let names: Vec<&str> = all.lines.iter().map(|l| &**l).collect();
        assert_eq!(names[0], "line 00017");
        assert_eq!(names[9], "line 00026");
        // Which did not fit back: the oldest of the batch, counted.
        assert_eq!(q.dropped, 17);
        assert_eq!(all.told, 17);
        q.push(Arc::from("x".repeat(101)));
        assert_eq!((q.len(), q.dropped), (0, 18));
        assert_eq!(q.take(10).lines.len(), 0);
    }
}
