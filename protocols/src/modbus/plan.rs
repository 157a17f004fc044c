//! The status poll plan: which Read Holding Registers requests cover a profile.
//!
//! Pure code. The handshake registers and the named registers are merged into as few
//! contiguous reads as possible: two spans are read together when the unused registers
//! between them number at most `max_gap`, and no read exceeds `max_registers`.

use std::collections::BTreeMap;

use super::profile::ModbusProfile;

/// One Read Holding Registers request of the poll plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBlock {
    /// First register.
    pub start: u16,
    /// Number of registers.
    pub count: u16,
}

impl ReadBlock {
    /// Last register of the block, inclusive.
    pub fn last(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count) - 1
    }
}

/// Coalesces register spans `(first, count)` into read blocks, in address order.
///
/// Spans may overlap or repeat. A span longer than `max_registers` gets a block of its
/// own (the profile validation keeps that from happening).
pub fn coalesce(spans: &[(u16, u16)], max_gap: u16, max_registers: u16) -> Vec<ReadBlock> {
    let max_registers = u32::from(max_registers.max(1));
    let mut sorted: Vec<(u32, u32)> = spans
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(first, count)| (u32::from(*first), u32::from(*first) + u32::from(*count) - 1))
        .collect();
    sorted.sort_unstable();
    let mut blocks: Vec<(u32, u32)> = Vec::new();
    for (first, last) in sorted {
        if let Some((start, end)) = blocks.last_mut() {
            let near = first <= *end + 1 + u32::from(max_gap);
            let fits = last.max(*end) - *start < max_registers;
            if near && fits {
                *end = last.max(*end);
                continue;
            }
        }
        blocks.push((first, last));
    }
    blocks
        .into_iter()
        // Addresses come from u16 and counts are bounded by the span lengths: both fit.
        .map(|(start, end)| ReadBlock {
            start: start as u16,
            count: (end - start + 1) as u16,
        })
        .collect()
}

/// The poll plan of a profile: the status handshake registers (one span, so that they
/// are always read together: a result never straddles two reads) and every named register.
pub fn poll_plan(profile: &ModbusProfile) -> Vec<ReadBlock> {
    let (first, last) = profile.status.span();
    let mut spans: Vec<(u16, u16)> = vec![(first, last - first + 1)];
    spans.extend(
        profile
            .registers
            .values()
            .map(|r| (r.address, r.ty.word_count())),
    );
    coalesce(&spans, profile.poll.max_gap, profile.poll.max_registers)
}

/// Register values gathered by the reads of one poll, by address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterImage {
    words: BTreeMap<u16, u16>,
}

impl RegisterImage {
    /// Stores the words read from a block starting at `start`.
    pub fn insert_block(&mut self, start: u16, words: &[u16]) {
        for (addr, word) in (start..=u16::MAX).zip(words) {
            self.words.insert(addr, *word);
        }
    }
    /// One register, if it was read.
    pub fn get(&self, addr: u16) -> Option<u16> {
        self.words.get(&addr).copied()
    }
    /// `count` consecutive registers, if all were read.
    pub fn span(&self, addr: u16, count: u16) -> Option<Vec<u16>> {
        (0..count)
            .map(|i| addr.checked_add(i).and_then(|a| self.get(a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start: u16, count: u16) -> ReadBlock {
        ReadBlock { start, count }
    }

    #[test]
    fn adjacent_registers_become_one_read() {
        assert_eq!(
            coalesce(&[(0, 1), (1, 1), (2, 1), (3, 1)], 0, 125),
            vec![b(0, 4)]
        );
    }

    #[test]
    fn nearby_registers_are_read_across_a_small_gap() {
        // 0..=3 and 10..=11: a gap of 6 unused registers.
        assert_eq!(coalesce(&[(0, 4), (10, 2)], 8, 125), vec![b(0, 12)]);
        assert_eq!(
            coalesce(&[(0, 4), (10, 2)], 5, 125),
            vec![b(0, 4), b(10, 2)]
        );
    }

    #[test]
    fn input_order_and_duplicates_do_not_matter() {
        assert_eq!(
            coalesce(&[(20, 2), (3, 1), (0, 1), (3, 1), (1, 2)], 0, 125),
            vec![b(0, 4), b(20, 2)]
        );
    }

    #[test]
    fn overlapping_spans_merge() {
        assert_eq!(coalesce(&[(10, 2), (11, 2)], 0, 125), vec![b(10, 3)]);
    }

    #[test]
    fn no_read_exceeds_the_request_limit() {
        let spans: Vec<(u16, u16)> = (0..300).map(|a| (a, 1)).collect();
        let plan = coalesce(&spans, 8, 125);
        assert_eq!(plan, vec![b(0, 125), b(125, 125), b(250, 50)]);
    }

    #[test]
    fn a_32_bit_value_is_never_split_across_reads() {
        assert_eq!(coalesce(&[(0, 4), (4, 2)], 0, 5), vec![b(0, 4), b(4, 2)]);
    }

    #[test]
    fn the_top_of_the_address_space_is_reachable() {
        assert_eq!(
            coalesce(&[(65534, 2), (65530, 1)], 8, 125),
            vec![b(65530, 6)]
        );
    }

    #[test]
    fn the_shipped_conveyor_profile_polls_in_one_read() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../devices/conveyor-modbus.toml");
        let profile = ModbusProfile::load(&path).unwrap();
        // status 0..=5 and its completion log 22..=37 (one span), the named registers
        // 10..=13 and 20..=21 in between.
        assert_eq!(poll_plan(&profile), vec![b(0, 38)]);
    }

    #[test]
    fn the_image_answers_only_what_was_read() {
        let mut image = RegisterImage::default();
        image.insert_block(10, &[1, 2, 3]);
        assert_eq!(image.span(11, 2), Some(vec![2, 3]));
        assert_eq!(image.span(12, 2), None);
        assert_eq!(image.get(9), None);
    }
}
