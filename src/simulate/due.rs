//! The answers due, soonest first: a binary heap of (time, slab slot)
//! pairs, ties in slot order. Packed in one 64-bit key while the time and
//! the slot fit (about 200 days of µs and a million requests in flight),
//! which keeps the heap's comparisons and moves cheap; past that the heap
//! is rebuilt once with 128-bit keys, in the same order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Bits of the slot in a narrow key; the time has the rest.
const SLOT_BITS: u32 = 20;

pub enum Due {
    Narrow {
        heap: BinaryHeap<Reverse<u64>>,
        slot_bits: u32,
    },
    Wide(BinaryHeap<Reverse<u128>>),
}

impl Default for Due {
    fn default() -> Self {
        Due::with_slot_bits(SLOT_BITS)
    }
}

impl Due {
    fn with_slot_bits(slot_bits: u32) -> Due {
        Due::Narrow {
            heap: BinaryHeap::new(),
            slot_bits,
        }
    }

    /// An answer due at `t_us` for the request in `slot`.
    pub fn push(&mut self, t_us: u64, slot: usize) {
        match self {
            Due::Narrow { heap, slot_bits } => {
                let b = *slot_bits;
                if (slot as u64) >> b == 0 && t_us >> (64 - b) == 0 {
                    heap.push(Reverse(t_us << b | slot as u64));
                    return;
                }
                self.widen();
                self.push(t_us, slot);
            }
            Due::Wide(heap) => heap.push(Reverse(u128::from(t_us) << 64 | slot as u128)),
        }
    }

    /// The soonest answer: its time and slot.
    #[inline]
    pub fn peek(&self) -> Option<(u64, usize)> {
        match self {
            Due::Narrow { heap, slot_bits } => heap
                .peek()
                .map(|Reverse(k)| (k >> slot_bits, (k & ((1 << slot_bits) - 1)) as usize)),
            Due::Wide(heap) => heap
                .peek()
                .map(|Reverse(k)| ((k >> 64) as u64, *k as u64 as usize)),
        }
    }

    pub fn pop(&mut self) {
        match self {
            Due::Narrow { heap, .. } => {
                heap.pop();
            }
            Due::Wide(heap) => {
                heap.pop();
            }
        }
    }

    /// Moves every pending answer to 128-bit keys.
    fn widen(&mut self) {
        if let Due::Narrow { heap, slot_bits } = self {
            let mask = (1u64 << *slot_bits) - 1;
            let wide = heap
                .drain()
                .map(|Reverse(k)| Reverse(u128::from(k >> *slot_bits) << 64 | u128::from(k & mask)))
                .collect();
            *self = Due::Wide(wide);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::random::Rng;

    /// Pops come in (time, slot) order, before and after the keys widen,
    /// as from a heap of the pairs themselves.
    #[test]
    fn pops_in_time_then_slot_order_across_widening() {
        // (slot bits, time unit): slots outgrow 4 bits, times outgrow the
        // 56 bits that 8 slot bits leave, everything fits 20 slot bits.
        for (slot_bits, unit) in [(4, 1_000_000), (8, 1_000_000_000_000_000), (20, 1_000)] {
            let mut due = Due::with_slot_bits(slot_bits);
            let mut reference = BinaryHeap::new();
            let mut r = Rng::new(u64::from(slot_bits), 0);
            for step in 0..20_000u64 {
                if r.range(0, 2) > 0 {
                    // Ties at the same instant included.
                    let t = r.range(0, 50) * (1 + step / 5_000) * unit;
                    let slot = r.range(0, 40) as usize;
                    due.push(t, slot);
                    reference.push(Reverse((t, slot)));
                } else if let Some(Reverse(want)) = reference.pop() {
                    assert_eq!(due.peek(), Some(want));
                    due.pop();
                }
            }
            while let Some(Reverse(want)) = reference.pop() {
                assert_eq!(due.peek(), Some(want));
                due.pop();
            }
            assert_eq!(due.peek(), None);
            assert_eq!(matches!(due, Due::Wide(_)), slot_bits < 20, "{slot_bits}");
        }
    }
}
