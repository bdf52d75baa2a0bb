//! A full-snapshot stream's frames told as what changed.
//!
//! Pacifica and Hyperliquid send every open position in every frame; at a
//! thousand positions, reading each one again and handing the core the
//! whole set 50 times a second is most of the process's work, though one
//! position moved. A connection keeps its last frame ([`LastFrame`]): an
//! item of the next frame whose text is the last frame's item at the same
//! place, byte for byte, is stepped over unread ([`items`]); the others are
//! read. A run of such items is found with one comparison from its first
//! (they and the text between them repeat the last frame's), not item by
//! item. When every read item is the same key as before at its place, and
//! there are as many items, the frame is the last set with those items
//! changed, and is told as [`StreamEvent::Changes`]. Anything else (the
//! first frame, a position opened or closed, items reordered, a key twice)
//! is read whole and told as [`StreamEvent::Snapshot`].
//!
//! The view applies changes only on top of a complete set from the same
//! connection, every frame since applied; a connection's `LastFrame` lives
//! and dies with it.

use std::ops::Range;

use super::scan::Cursor;
use super::types::StreamEvent;
use crate::domain::{Position, PositionKey};

/// One item of a frame: where its text is, and what it says (`None`: the
/// same text as the last frame's item at this place, not read again).
#[derive(Debug)]
pub struct Item<T> {
    pub span: Range<usize>,
    pub read: Option<T>,
}

/// A connection's last frame: its text and each item's span and key (flat
/// items included, so places line up).
#[derive(Debug, Default)]
pub struct LastFrame {
    text: String,
    items: Vec<(Range<usize>, PositionKey)>,
    /// The next frame may be told against this one: it was told, and no
    /// key appears in it twice.
    anchors: bool,
    /// The highest sequence number told on this connection.
    seq: Option<u64>,
    /// Empty; kept for its capacity: the next frame's items are read into
    /// it. A frame of a thousand positions is a block of ~100 KB, and one
    /// asked for anew at every frame left the allocator's heap growing
    /// (BENCHMARKS.md, the twenty-first session).
    spare: Vec<Item<Position>>,
}

/// An array of items, written into `items` (emptied first; its memory
/// reused): `read` reads each, except one whose text is `last`'s item at the
/// same place, which is stepped over.
pub fn items<'a, T>(
    c: &mut Cursor<'a>,
    last: &LastFrame,
    mut items: Vec<Item<T>>,
    mut read: impl FnMut(&mut Cursor<'a>) -> Option<T>,
) -> Option<Vec<Item<T>>> {
    items.clear();
    items.reserve(last.items.len());
    c.elements(|c| {
        c.peek()?;
        let start = c.offset();
        let i = items.len();
        // The items from here on that this frame repeats, each stepped over
        // unread, at the place the text before it puts it (at one
        // thousand positions, most of a frame: one comparison, no loop).
        let run = last.items.get(i..i + last.repeated(i, c.rest())).unwrap_or_default();
        if let Some((first, _)) = run.first() {
            let placed = |at: usize| at - first.start + start;
            items.extend(run.iter().map(|(span, _)| Item {
                span: placed(span.start)..placed(span.end),
                read: None,
            }));
            let end = items.last().map_or(start, |item| item.span.end);
            return c.skip_checked(end);
        }
        let read = read(c)?;
        items.push(Item {
            span: start..c.offset(),
            read: Some(read),
        });
        Some(())
    })?;
    Some(items)
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Blocks by the library's comparison (wide loads), then words, then bytes.
    const BLOCK: usize = 256;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut at = 0;
    while at + BLOCK <= n && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    for (x, y) in a[at..].chunks_exact(8).zip(b[at..].chunks_exact(8)) {
        // Eight bytes each (`chunks_exact`): the conversion cannot fail.
        let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
        let differ = word(x) ^ word(y);
        if differ != 0 {
            // The first byte is the word's lowest.
            return at + (differ.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + a[at..].iter().zip(&b[at..]).take_while(|(x, y)| x == y).count()
}

impl LastFrame {
    /// Nothing to tell a frame against (a frame read against it is read whole).
    pub const NONE: &'static LastFrame = &LastFrame {
        text: String::new(),
        items: Vec::new(),
        anchors: false,
        seq: None,
        spare: Vec::new(),
    };

    /// How many of this frame's items, from the `i`th on, `rest` (the next
    /// frame's text from where its `i`th item starts) repeats byte for byte,
    /// the text between them included.
    fn repeated(&self, i: usize, rest: &[u8]) -> usize {
        let old = self.text.as_bytes();
        let Some((first, _)) = self.items.get(i).filter(|_| self.anchors) else {
            return 0;
        };
        // The `i`th item first, alone: when it changed (every item, when
        // every size moves) that is the one comparison, as short as it can be.
        let Some(item) = old.get(first.clone()).filter(|item| rest.starts_with(item)) else {
            return 0;
        };
        let shared = common_prefix(&old[first.end..], &rest[item.len()..]);
        // Spans are in text order: the items wholly within the shared part.
        1 + self.items[i + 1..].partition_point(|(span, _)| span.end - first.end <= shared)
    }

    /// Tells `items`, read from `text` against this frame, and keeps `text`
    /// as the last frame. `None`: the frame is not this one's keys in the
    /// same places and some items went unread; read it again against
    /// [`LastFrame::NONE`].
    /// `items` is left empty.
    fn tell(&mut self, text: &str, items: &mut Vec<Item<Position>>, seq: Option<u64>) -> Option<StreamEvent> {
        if matches!((seq, self.seq), (Some(s), Some(last)) if s < last) {
            // Older than a frame already told: the view drops it, so it is
            // told whole and the next frame is told against the last one still.
            let whole: Option<Vec<Position>> = items.drain(..).map(|i| i.read).collect();
            let positions = whole?.into_iter().filter(|p| !p.size.is_zero()).collect();
            return Some(StreamEvent::Snapshot { positions, seq });
        }
        self.seq = seq.or(self.seq);
        let same_keys = self.anchors
            && items.len() == self.items.len()
            && items
                .iter()
                .zip(&self.items)
                .all(|(item, (_, key))| item.read.as_ref().is_none_or(|p| p.key == *key));
        if same_keys {
            self.text.clear();
            self.text.push_str(text);
            for (item, (span, _)) in items.iter().zip(&mut self.items) {
                span.clone_from(&item.span);
            }
            // One block of the size the frame needs, not grown as it fills.
            let mut positions = Vec::with_capacity(items.iter().filter(|i| i.read.is_some()).count());
            positions.extend(items.drain(..).filter_map(|i| i.read));
            return Some(StreamEvent::Changes { positions, seq });
        }
        self.anchors = false;
        let mut whole = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            whole.push((item.span, item.read?));
        }
        self.text.clear();
        self.text.push_str(text);
        self.items = whole.iter().map(|(span, p)| (span.clone(), p.key.clone())).collect();
        let mut keys: Vec<&PositionKey> = self.items.iter().map(|(_, k)| k).collect();
        keys.sort_unstable();
        self.anchors = keys.windows(2).all(|w| w[0] != w[1]);
        let positions = whole
            .into_iter()
            .map(|(_, p)| p)
            .filter(|p| !p.size.is_zero())
            .collect();
        Some(StreamEvent::Snapshot { positions, seq })
    }

    /// Reads `text` with `scan` against this frame, then, if it is not this
    /// frame's keys in the same places, against none. `None` where `scan`
    /// leaves the frame to serde: the next frame is then read whole.
    /// `scan` reads the frame into the items it is given (emptied; their
    /// memory this connection's, reused from frame to frame).
    pub fn read<E>(
        &mut self,
        text: &str,
        mut scan: impl FnMut(&LastFrame, Vec<Item<Position>>) -> Option<Result<(Vec<Item<Position>>, Option<u64>), E>>,
    ) -> Option<Result<StreamEvent, E>> {
        for against_none in [false, true] {
            let spare = std::mem::take(&mut self.spare);
            let last = if against_none { LastFrame::NONE } else { &*self };
            let (mut items, seq) = match scan(last, spare) {
                Some(Ok(read)) => read,
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            };
            let told = self.tell(text, &mut items, seq);
            items.clear();
            self.spare = items;
            if let Some(told) = told {
                return Some(Ok(told));
            }
        }
        self.forget();
        None
    }

    /// The next frame is read whole (this one was not told from these items).
    fn forget(&mut self) {
        self.anchors = false;
    }

    /// `event` was read from a frame of this connection by other means
    /// (serde: the scanner left it, or it did not look like a positions
    /// frame): the view now holds its set, so the next frame is read whole,
    /// and its sequence number counts towards which frames are older.
    pub fn read_elsewhere(&mut self, event: &StreamEvent) {
        if let StreamEvent::Snapshot { seq, .. } | StreamEvent::Changes { seq, .. } = event {
            self.forget();
            self.seq = self.seq.max(*seq);
        }
    }
}

/// For the venues' tests: a connection's frames told by its decoder leave
/// the view as the same frames read whole do.
#[cfg(test)]
pub mod check {
    use proptest::prelude::*;

    use crate::domain::Timestamp;
    use crate::venue::types::{StreamEvent, StreamStyle};
    use crate::view::StreamView;

    /// Feeds `frames` to two views, one through `told` (a connection's
    /// decoder) and one through `whole` (each frame read alone), and
    /// compares them after every frame. Returns how many frames were told
    /// as changes.
    pub fn told_as_whole(
        frames: &[String],
        mut told: impl FnMut(&str) -> StreamEvent,
        whole: impl Fn(&str) -> StreamEvent,
    ) -> Result<usize, String> {
        let (mut a, mut b) = (
            StreamView::new(StreamStyle::FullSnapshots),
            StreamView::new(StreamStyle::FullSnapshots),
        );
        a.apply(&StreamEvent::Connected, Timestamp(0));
        b.apply(&StreamEvent::Connected, Timestamp(0));
        let mut changes = 0;
        for (i, text) in frames.iter().enumerate() {
            let at = Timestamp(i as i64 + 1);
            let event = told(text);
            changes += usize::from(matches!(event, StreamEvent::Changes { .. }));
            a.apply(&event, at);
            b.apply(&whole(text), at);
            if a.positions() != b.positions() || a.link() != b.link() {
                return Err(format!(
                    "after {text}: told {:?}, whole {:?}",
                    a.positions(),
                    b.positions()
                ));
            }
            let sorted = |v: &StreamView| {
                let mut keys = v.changed().to_vec();
                keys.sort();
                keys
            };
            if sorted(&a) != sorted(&b) {
                return Err(format!(
                    "after {text}: told changed {:?}, whole {:?}",
                    a.changed(),
                    b.changed()
                ));
            }
        }
        Ok(changes)
    }

    #[derive(Debug, Clone)]
    enum Edit<T> {
        Same,
        Replace(usize, T),
        Swap(usize, usize),
        Open(T),
        Close(usize),
        Anew(Vec<T>),
    }

    /// A connection's frames as lists of items, each an edit of the last:
    /// the same again, one item replaced (often the same key with another
    /// size or field), two swapped, one opened or closed, or a new list.
    pub fn frames<T: Clone + std::fmt::Debug + 'static>(
        item: impl Strategy<Value = T> + Clone + 'static,
    ) -> impl Strategy<Value = Vec<Vec<T>>> {
        let edit = prop_oneof![
            Just(Edit::Same),
            (0usize..8, item.clone()).prop_map(|(i, t)| Edit::Replace(i, t)),
            (0usize..8, 0usize..8).prop_map(|(i, j)| Edit::Swap(i, j)),
            item.clone().prop_map(Edit::Open),
            (0usize..8).prop_map(Edit::Close),
            prop::collection::vec(item.clone(), 0..5).prop_map(Edit::Anew),
        ];
        (prop::collection::vec(item, 0..5), prop::collection::vec(edit, 1..10)).prop_map(|(first, edits)| {
            let mut items = first;
            let mut frames = vec![items.clone()];
            for e in edits {
                let n = items.len().max(1);
                match e {
                    Edit::Same => {}
                    Edit::Replace(i, t) => {
                        if let Some(it) = items.get_mut(i % n) {
                            *it = t;
                        }
                    }
                    Edit::Swap(i, j) if !items.is_empty() => items.swap(i % n, j % n),
                    Edit::Open(t) => items.push(t),
                    Edit::Close(i) if !items.is_empty() => {
                        items.remove(i % n);
                    }
                    Edit::Anew(new) => items = new,
                    Edit::Swap(..) | Edit::Close(_) => {}
                }
                frames.push(items.clone());
            }
            frames
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rust_decimal::Decimal;

    use super::*;

    /// A frame of `"SYMBOL:size"` strings, read with [`items`].
    fn scan(text: &str, last: &LastFrame, buffer: Vec<Item<Position>>) -> Option<Vec<Item<Position>>> {
        let mut c = Cursor::new(text);
        items(&mut c, last, buffer, |c| {
            let (symbol, size) = c.string()?.split_once(':')?;
            Some(Position {
                key: PositionKey::net(symbol),
                size: Decimal::from_str(size).ok()?,
                entry_price: None,
            })
        })
    }

    fn frame(sizes: &[u32]) -> String {
        let items: Vec<String> = sizes.iter().enumerate().map(|(i, s)| format!("\"S{i}:{s}\"")).collect();
        format!("[{}]", items.join(","))
    }

    proptest::proptest! {
        /// The shared beginning is found exactly, wherever the first
        /// difference falls (in a block, a word or the bytes after them).
        #[test]
        fn common_prefix_is_where_the_bytes_first_differ(
            a in proptest::collection::vec(0u8..3, 0..700),
            cut in 0usize..700,
            b in proptest::collection::vec(0u8..3, 0..700),
        ) {
            let cut = cut.min(a.len());
            let other: Vec<u8> = a[..cut].iter().chain(&b).copied().collect();
            let naive = a.iter().zip(&other).take_while(|(x, y)| x == y).count();
            proptest::prop_assert_eq!(common_prefix(&a, &other), naive);
            proptest::prop_assert_eq!(common_prefix(&other, &a), naive);
        }
    }

    /// Items repeated after a changed one that moved them (a longer size)
    /// are stepped over at their new places; the changed one is read.
    #[test]
    fn repeated_items_are_found_at_their_new_places() {
        let mut last = LastFrame::default();
        let read = |last: &mut LastFrame, text: &str| {
            last.read(text, |l, buffer| Some(Ok::<_, ()>((scan(text, l, buffer)?, None))))
                .expect("read by the scanner")
                .expect("no error")
        };
        let mut sizes = vec![1u32; 50];
        read(&mut last, &frame(&sizes));
        for (i, size) in [(3, 1_000), (49, 7), (0, 123_456), (20, 2)] {
            sizes[i] = size;
            let text = frame(&sizes);
            match read(&mut last, &text) {
                StreamEvent::Changes { positions, .. } => {
                    let told: Vec<_> = positions.iter().map(|p| (p.key.symbol.to_string(), p.size)).collect();
                    assert_eq!(told, [(format!("S{i}"), Decimal::from(size))], "after {text}");
                }
                other => panic!("{text} not told as a change: {other:?}"),
            }
            // Every kept span is its item's text in this frame.
            for (k, (span, _)) in last.items.iter().enumerate() {
                assert_eq!(&text[span.clone()], format!("\"S{k}:{}\"", sizes[k]));
            }
        }
    }

    /// A connection reads each frame into the memory the last one was read
    /// into: a thousand items are not asked for anew at every frame.
    #[test]
    fn a_connection_reads_every_frame_into_the_same_memory() {
        let mut last = LastFrame::default();
        let mut sizes = vec![1u32; 1_000];
        let read = |last: &mut LastFrame, text: &str| {
            last.read(text, |l, buffer| Some(Ok::<_, ()>((scan(text, l, buffer)?, None))))
                .expect("read by the scanner")
                .expect("no error")
        };
        assert!(matches!(read(&mut last, &frame(&sizes)), StreamEvent::Snapshot { .. }));
        let (at, capacity) = (last.spare.as_ptr(), last.spare.capacity());
        assert!(capacity >= 1_000, "the first frame's memory is kept: {capacity}");
        for i in 0..10 {
            sizes[i * 7] += 1;
            match read(&mut last, &frame(&sizes)) {
                StreamEvent::Changes { positions, .. } => assert_eq!(positions.len(), 1),
                other => panic!("frame {i} not told as a change: {other:?}"),
            }
            assert!(last.spare.is_empty());
            assert_eq!(
                (last.spare.as_ptr(), last.spare.capacity()),
                (at, capacity),
                "frame {i}"
            );
        }
    }
}
