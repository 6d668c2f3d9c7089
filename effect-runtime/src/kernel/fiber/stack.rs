//! The interpreter's stack of entries, kept on the heap (see
//! [`interpreter`](super::interpreter)): nesting depth never grows the native stack.

/// The interpreter's stack: the bottom two entries inline, the rest in a `Vec`. Most fibers
/// never hold more than a body and one bind, so most fibers never allocate a stack.
pub(crate) struct Stack<T> {
    /// Filled first, bottom first; `low[1]` is set only when `low[0]` is.
    low: [Option<T>; 2],
    /// The entries above the two inline ones.
    high: Vec<T>,
}

impl<T> Default for Stack<T> {
    fn default() -> Self {
        Stack {
            low: [None, None],
            high: Vec::new(),
        }
    }
}

impl<T> Stack<T> {
    pub(crate) fn push(&mut self, entry: T) {
        if !self.high.is_empty() {
            self.high.push(entry);
        } else if self.low[0].is_none() {
            self.low[0] = Some(entry);
        } else if self.low[1].is_none() {
            self.low[1] = Some(entry);
        } else {
            self.high.push(entry);
        }
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        self.high
            .pop()
            .or_else(|| self.low[1].take())
            .or_else(|| self.low[0].take())
    }

    pub(crate) fn last(&self) -> Option<&T> {
        self.high
            .last()
            .or(self.low[1].as_ref())
            .or(self.low[0].as_ref())
    }

    pub(crate) fn last_mut(&mut self) -> Option<&mut T> {
        if !self.high.is_empty() {
            self.high.last_mut()
        } else if self.low[1].is_some() {
            self.low[1].as_mut()
        } else {
            self.low[0].as_mut()
        }
    }

    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.low.iter().flatten().chain(&self.high)
    }

    pub(crate) fn iter_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut T> {
        self.low.iter_mut().flatten().chain(&mut self.high)
    }

    /// The entry at the bottom.
    pub(crate) fn bottom(&self) -> Option<&T> {
        self.low[0].as_ref()
    }

    /// Puts `entry` below every other entry: O(depth), once per fiber (its first fork).
    pub(crate) fn insert_bottom(&mut self, entry: T) {
        let mut all = Vec::with_capacity(self.high.len() + 3);
        all.push(entry);
        all.extend(self.low[0].take());
        all.extend(self.low[1].take());
        all.append(&mut self.high);
        for entry in all {
            self.push(entry);
        }
    }
}
